"""`monitord doctor -c station.toml` on the station machine while the station runs (the
shipped ACL broker: the user name is the client id).

Before: doctor logged in as the station's user, which took the running station's broker
connection (its log: "connection ... lost", the wallboard reconnecting, the chairs seeing
no station for a moment), and then failed its own `stations` line when the station took the
connection back ("Disconnected during message iteration -> fix: see the mqtt line", that
line `ok`): exit 1 on a station that was fine. Now doctor sees the station serving here and
does not log in as it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.station_kit import station_config, station_process


def doctor(cfg: Path) -> dict[str, str]:
    run = [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg), "--timeout", "3"]
    p = subprocess.run(run, capture_output=True, text=True, timeout=90)
    lines: dict[str, str] = {}
    for ln in p.stdout.splitlines():
        lines.setdefault(ln.split(None, 1)[1].split(":", 1)[0], ln)
    return lines


async def test_doctor_leaves_the_running_stations_connection_alone(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    async with station_process(cfg, tmp_path / "station.log") as (proc, _url):
        await eventually(
            lambda: "station MQTT: connected" in proc.output(), 30, "the station connected"
        )
        runs = [doctor(cfg) for _ in range(2)]
        await asyncio.sleep(2)  # a lost connection is logged within its reconnect
        assert "lost" not in proc.output(), proc.output()
    for lines in runs:
        assert not lines["mqtt"].startswith("FAIL"), lines
        assert not lines["stations"].startswith("FAIL"), lines
        assert "a station serves on" in lines["mqtt"], lines
    # Stopped, doctor logs in as the station itself again.
    lines = doctor(cfg)
    assert lines["mqtt"].startswith("ok") and "connected as station-1" in lines["mqtt"], lines
