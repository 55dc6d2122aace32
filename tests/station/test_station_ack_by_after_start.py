"""Who acknowledged an alarm, for a station that starts after the ACK. A real mosquitto
with the shipped ACL, a real `monitord run` with a simulated IntelliVue raising a
bp.crisis, the real `monitord station` and a nurse's page in headless Chromium.

alice's ACK reaches the daemon before the station starts (it restarted, or a second
wallboard opened later): the station learns the alert from the chair's retained
`alerts/active` only, its `acknowledged` event long gone. Before, the set carried `ack`
but not who, and the tile read "ACK" with no name, where a station that heard the ACK
live read "ACK alice". Now the set carries `by` (docs/mqtt.md "alerts/active")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.cdp import browser
from tests.station.station_kit import (
    chair_config,
    daemon_process,
    login_page,
    mqtt_login,
    show_logs,
    station_config,
    station_process,
    tile,
    topic,
)

# A crisis 2 s after the daemon starts, its condition held for the hour the test lasts.
CRISIS = [
    {"t": 1, "event": "hr", "hr": 72},
    {"t": 1, "event": "spo2", "spo2": 97, "pulse": 72},
    {"t": 2, "event": "bp", "sys": 212, "dia": 124},
    {"t": 3600, "event": "end"},
]


async def test_a_station_started_after_the_ack_shows_who_acknowledged(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    scfg = station_config(tmp_path, acl_broker)
    ccfg = chair_config(tmp_path, acl_broker, "chair-1", CRISIS)
    sets: list[dict[str, Any]] = []

    async with (
        mqtt_login(acl_broker, "station-2") as spy,  # an observer's account; acks too
        daemon_process(ccfg, tmp_path / "chair-1.log") as daemon,
        show_logs(daemon),
    ):
        await spy.subscribe(topic("chair-1", "alerts/active"), qos=1)

        async def listen() -> None:
            async for m in spy.messages:
                sets.append(json.loads(bytes(m.payload)))

        def crisis(acked: bool) -> list[dict[str, Any]]:
            return [
                a
                for s in sets[-1:]
                for a in s["alerts"]
                if a["rule"] == "bp.crisis" and a["ack"] is acked
            ]

        listener = asyncio.create_task(listen())
        try:
            await eventually(lambda: crisis(False), 30, "the crisis in the active set")
            aid = crisis(False)[0]["alert_id"]
            ack = {"alert_id": aid, "by": "alice"}
            await spy.publish(topic("chair-1", "cmd/ack"), json.dumps(ack), 1)
            await eventually(lambda: crisis(True), 20, "the crisis acknowledged in the set")
            got = crisis(True)[0]
            assert got.get("by") == "alice", f"the retained set does not say who: {got}"
        finally:
            listener.cancel()
        # Now the station starts: it has only the retained set to go by.
        async with (
            station_process(scfg, tmp_path / "station.log") as (station, url),
            show_logs(station),
            browser() as b,
        ):
            page = await b.new_page()
            await login_page(page, url, "alice")
            ackby = f"{tile('chair-1')}?.querySelector('.alert.high .ackby')"
            await page.until(f"!!{ackby}", 20, "the acknowledged crisis on the tile")
            text = await page.js(f"{ackby}.textContent")
            assert text == "ACK alice", f"the tile does not say who acknowledged: {text!r}"
            await page.close()
