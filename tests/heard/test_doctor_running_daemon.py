"""`monitord doctor` on a Pi whose daemon runs, against the shipped broker config (real
mosquitto 2.0, `use_username_as_clientid`: the user name is the client id).

Before: doctor logged in as the chair (its login, its round trip, its stations read), and
each login took over the running daemon's connection: the daemon logged "connection ...
lost", its Last Will marked the chair offline at the station, and two doctor runs were the
closes that the daemon reads as two Pis with one chair file (`TAKEN OVER`, the station's
*TWO MONITORS REPORT AS THIS CHAIR*). Now doctor sees the daemon holds the store and
reports the daemon's own connection and stations instead of logging in.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess
from tests.heard.heard_kit import write_config
from tests.heard.test_doctor_round_trip import doctor, publish_online
from tests.kit import eventually


def status(cfg: Path) -> dict[str, Any]:
    run = [sys.executable, "-m", "monitord", "status", "--json", "--config", str(cfg)]
    p = subprocess.run(run, capture_output=True, text=True, timeout=60)
    doc: dict[str, Any] = json.loads(p.stdout) if p.returncode == 0 else {}
    return doc


def mqtt_state(cfg: Path) -> dict[str, Any]:
    mqtt: dict[str, Any] = (status(cfg).get("connections") or {}).get("mqtt") or {}
    return mqtt


async def test_doctor_leaves_the_running_daemons_connection_alone(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    await publish_online(broker)
    cfg = write_config(tmp_path, broker, username="chair-2", devices=False)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemon.start()
    try:
        await eventually(
            lambda: mqtt_state(cfg).get("state") == "connected", 60, "the daemon connected"
        )
        await eventually(
            lambda: "station-1" in ((status(cfg).get("daemon") or {}).get("stations_online") or []),
            60,
            "the daemon saw the station online",
        )
        since = mqtt_state(cfg)["since"]
        # An admin checking twice: enough closes for a "takeover", had doctor logged in.
        runs = [doctor(cfg) for _ in range(2)]
        await asyncio.sleep(2)  # a lost connection is logged within its reconnect
        log = daemon.log.read_text()
        assert "lost" not in log and "taken over" not in log, log
        state = mqtt_state(cfg)
        assert state.get("state") == "connected" and state.get("since") == since, state
        assert not state.get("taken_over"), state
        for _rc, lines, out in runs:
            assert lines["mqtt"].startswith("ok"), out
            assert "the running daemon" in lines["mqtt"], out
            assert "connected as chair-2" in lines["mqtt"], out
            assert lines["mqtt round trip"].startswith("skip"), out
            assert lines["stations"].startswith("ok") and "station-1" in lines["stations"], out
    finally:
        daemon.stop()
    # Stopped, doctor logs in itself again (the login and the round trip).
    _rc, lines, out = doctor(cfg)
    assert "connected as chair-2 over TLS" in lines["mqtt"], out
    assert lines["mqtt round trip chair-2"].startswith("ok"), out
