"""SIGHUP to `monitord station` run as a service (no controlling terminal, as under
systemd/monitord-station.service). Python's default killed it at once, and systemd's
Restart=on-failure does not restart a unit ended by SIGHUP (a clean exit to it,
systemd.service(5)): one `kill -HUP` after an edit of station.toml left every wallboard
without its server for good. Now it is said at WARNING with how to apply an edit, and the
station goes on serving. Real station, real broker (docs/operations.md, "Signals")."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.faults.test_sighup import hup_until_exit
from tests.kit import eventually, sighup_default
from tests.servers import Mosquitto
from tests.station.station_kit import Proc, station_config, station_process

SAID = "SIGHUP: nothing reloaded, the station goes on serving: monitord station reads its"
APPLY = "then systemctl restart monitord-station"


class ServiceProc(Proc):
    """The station in a session of its own: no terminal, as systemd starts it."""

    def start(self) -> Proc:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", *self.args],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=sighup_default,
            )
        return self


def status_of(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as r:
        return int(r.status)


async def test_a_sighup_to_the_station_service_is_said_and_it_goes_on_serving(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    async with station_process(cfg, tmp_path / "station.log", ServiceProc) as (p, url):
        proc = p.proc
        assert proc is not None
        proc.send_signal(signal.SIGHUP)
        await eventually(lambda: SAID in p.output() or proc.poll() is not None, 15, "said")
        assert proc.poll() is None, (proc.returncode, p.output()[-3000:])
        line = next(ln for ln in p.output().splitlines() if SAID in ln)
        assert "WARNING" in line and APPLY in line, line
        assert status_of(url) == 200  # still serving the wallboards
        assert p.stop() == 0, p.output()[-3000:]


async def test_sighups_during_the_stations_stop_change_nothing(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A SIGHUP once the station's loop had closed met the default's death: its stop,
    asked by SIGTERM, ended by the signal, not exit 0. Now ignored once the stop is under
    way (monitord/hangup.py, stopping)."""
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    async with station_process(cfg, tmp_path / "station.log", ServiceProc) as (p, _):
        assert p.proc is not None
        code = await hup_until_exit(p.proc)
    assert code == 0, (code, p.output()[-3000:])
    assert "Traceback" not in p.output(), p.output()[-3000:]
