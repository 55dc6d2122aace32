"""A chair's live `alerts/active` sets the chair time the station judges replays against
(`ChairView.clock`), also back (docs/station.md "MQTT").

A daemon whose clock is behind the one before it (a replaced Pi, a fresh store) that
connects while the station is away (a broker restart: which of the two reconnects first
is a race) is heard live from its next set on, with no live `online` before it. The
station applied that set, but kept the time of the daemon before, an hour ahead: every
set of the new daemon replayed at the station's next resubscribe read as older and was
kept out, until the daemon's clock caught up. An alarm cleared while the station was away
stayed on the board (and on the phone forwarder's countdown); one raised meanwhile was
not shown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from monitord.models import iso
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    SITE,
    ChairPublisher,
    alert,
    mqtt_login,
    station_config,
    station_in_process,
)


def _retain_while_away(broker: Mosquitto, prefix: str, msgs: list[tuple[str, Any]]) -> None:
    """Start the stopped broker and publish `msgs` (chair-1's, retained) before the
    station can reconnect: blocking on purpose, the in-process station's event loop waits,
    so it hears them only as its resubscribe's replay, never live."""
    broker.start()
    for rest, body in msgs:
        subprocess.run(
            [
                "mosquitto_pub", *broker.pub_args(), "-q", "1", "-r",
                "-t", f"{prefix}/{SITE}/chair-1/{rest}", "-m", json.dumps(body),
            ],
            check=True,
            timeout=20,
        )  # fmt: skip


async def test_a_live_set_of_a_daemon_behind_lets_its_next_replayed_set_in(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    now = time.time()
    behind = now - 3600  # the new daemon's clock
    idle = {"phase": "idle"}
    first = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 200/120")
    second = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s")
    async with station_in_process(cfg) as (st, _):
        await eventually(lambda: st.bridge.connected, 20, "the station on the broker")

        def ids() -> list[Any]:
            view = st.model.chairs.get("chair-1")
            return [] if view is None else [a["alert_id"] for a in view.alerts]

        async def back_with_marker(n: int) -> None:
            """The station reconnected, its replay done (a message sent after it)."""
            await eventually(lambda: st.bridge.connected, 30, "the broker back")
            async with mqtt_login(mosquitto) as c:
                await ChairPublisher(c, mqtt_prefix).status(f"chair-{n}", "online")
                await eventually(lambda: f"chair-{n}" in st.model.chairs, 20, "the marker")

        async with mqtt_login(mosquitto) as c:
            pub = ChairPublisher(c, mqtt_prefix)
            await pub.status("chair-1", "online", t=now)
            await pub.active("chair-1", [], t=now)
            await eventually(lambda: "chair-1" in st.model.chairs, 10, "chair-1")
        # The broker restarts; the replaced Pi connects before the station does.
        await asyncio.to_thread(mosquitto.stop)
        await eventually(lambda: not st.bridge.connected, 15, "the broker lost")
        _retain_while_away(
            mosquitto,
            mqtt_prefix,
            [
                ("status", {"state": "online", "time": iso(behind), "version": "0.1.0"}),
                ("alerts/active", {"time": iso(behind), "alerts": [], "session": idle}),
            ],
        )
        await back_with_marker(2)
        # Its first alarm, heard live: its set is applied.
        async with mqtt_login(mosquitto) as c:
            await ChairPublisher(c, mqtt_prefix).active("chair-1", [first], t=behind + 60)
            await eventually(lambda: ids() == [first["alert_id"]], 10, "the first alarm")
        # The station away again (its broker restarts): the first alarm clears and another
        # is raised meanwhile. The replay of that set must be applied.
        await asyncio.to_thread(mosquitto.stop)
        await eventually(lambda: not st.bridge.connected, 15, "the broker lost again")
        later = {"time": iso(behind + 120), "alerts": [second], "session": idle}
        _retain_while_away(mosquitto, mqtt_prefix, [("alerts/active", later)])
        await back_with_marker(3)
        assert ids() == [second["alert_id"]], (
            f"the newer set of a daemon whose clock is behind, replayed, was kept out: the "
            f"board shows {ids()} (a cleared alarm), not {second['alert_id']}"
        )
