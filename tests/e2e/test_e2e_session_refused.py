"""clinical-rules.md "Precise semantics": session commands out of order are refused, never
implied, and, live, the refusal is answered on `cmd/errors` (where the station shows it).

The daemon runs in process with the real mosquitto; the nurse is `mosquitto_pub` and an
aiomqtt subscriber. What the daemon applied is read from its store (`session` records),
never from its memory.
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e_kit import (
    CHAIR,
    NO_INFLUX,
    SITE,
    Oximeter,
    Store,
    daemon_in_process,
    eventually,
    mosquitto_pub,
    mqtt_section,
    write_config,
)

from tests.kit import Observer
from tests.servers import Mosquitto


def sessions(store: Store) -> list[str]:
    """Session actions the daemon committed, in order."""
    return [
        json.loads(b)["action"]
        for (b,) in store._q("SELECT body FROM records WHERE type='session' ORDER BY id")
    ]


async def test_out_of_order_session_commands_are_answered_on_cmd_errors(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), influx=NO_INFLUX)
    store = Store(tmp_path / "outbox.sqlite")
    async with (
        Observer(mosquitto, [f"{b}/cmd/errors"]) as nurse,
        Oximeter(tmp_path),
        daemon_in_process(cfg) as daemon,
    ):
        mqtt = daemon.mqtt
        assert mqtt is not None
        await eventually(lambda: mqtt.subscribed, 30, "daemon subscribed to its commands")

        async def command(payload: dict[str, str]) -> None:
            await mosquitto_pub(mosquitto, f"{b}/cmd/session", json.dumps(payload))

        async def refused(n: int, what: str) -> None:
            await eventually(lambda: len(nurse.of("cmd/errors")) == n, 20, f"{what} answered")
            err = nurse.of("cmd/errors")[-1]
            assert err["topic"] == f"{b}/cmd/session", err
            assert err["error"], err

        # dose_end with no session: refused, and no session is implied.
        await command({"action": "dose_end"})
        await refused(1, "dose_end while idle")
        assert "dose_end" in nurse.of("cmd/errors")[0]["error"]
        await command({"action": "start", "protocol": "esketamine"})
        await eventually(lambda: sessions(store) == ["start"], 20, "start taken")
        # session_start while a session is open: refused (the old one is not ended).
        await command({"action": "start", "protocol": "iv-ketamine"})
        await refused(2, "second start")
        # dose_end outside dosing (the session is in baseline).
        await command({"action": "dose_end"})
        await refused(3, "dose_end in baseline")
        await command({"action": "end"})
        await eventually(lambda: sessions(store) == ["start", "end"], 20, "end taken")
        # session_end with no session.
        await command({"action": "end"})
        await refused(4, "end with no session")
        assert sessions(store) == ["start", "end"]
        assert daemon.chairs[CHAIR].engine.phase(CHAIR) == "idle"
