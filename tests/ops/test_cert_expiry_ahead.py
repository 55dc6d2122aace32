"""Certificates made on install day all expire on one day: the broker refuses every chair
whose own certificate expired, every tablet's browser refuses the station page. Before,
only `monitord doctor` said so ahead, and only when run; the running daemon and station
said nothing until the day. Now each says it in the journal (WARNING) at start and once a
day within 30 days of the expiry, naming the file, its setting, the date and how to renew
it (monitord/certfiles.py); `monitord status` too. A real `monitord run` and a real
`monitord station` on TLS, with certificates expiring in 10 days (the chair's), 25 (the
clinic CA's) and 20 (the station's); the tests' other certificates are valid far longer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto, make_tls_material, session_tmpdir
from tests.station.station_kit import station_config, station_process


def _warned(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("WARNING monitord.certfiles")]


async def test_the_daemon_says_its_certificates_expire_ahead(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # The clinic CA (expiring in 25 days) signed the broker's certificate and the chair's
    # (10 days); a broker of the test's own serves with them.
    now = dt.datetime.now(dt.UTC)
    soon = make_tls_material(
        tmp_path / "chair",
        client_until=now + dt.timedelta(days=10),
        ca_until=now + dt.timedelta(days=25),
    )
    workdir = session_tmpdir("mosquitto-soon")
    broker = Mosquitto(workdir, tls=soon)
    mqtt = mqtt_section(broker, mqtt_prefix) + (
        f'\n  [mqtt.tls]\n  ca_file = "{soon.ca_file}"\n'
        f'  cert_file = "{soon.client_cert}"\n  key_file = "{soon.client_key}"\n'
    )
    daemon = DaemonProcess(write_config(tmp_path, mqtt=mqtt), tmp_path / "daemon.log")
    broker.start()
    daemon.start()
    try:
        await eventually(
            lambda: len(_warned(daemon.log.read_text(errors="replace"))) >= 2, 30, "two warnings"
        )
    finally:
        daemon.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = _warned(daemon.log.read_text(errors="replace"))
    chair = next(ln for ln in lines if str(soon.client_cert) in ln)
    assert "(mqtt.tls.cert_file) expires " in chair and "(in 10 days)" in chair, chair
    assert "issue a new one from the clinic CA" in chair, chair
    ca = next(ln for ln in lines if str(soon.ca_file) in ln)
    assert "(mqtt.tls.ca_file) expires " in ca and "clinic-ca.pem" in ca, ca
    assert len(lines) == 2, lines  # once each, not at every reconnect
    # `monitord status` says the same, read from the files (docs/operations.md).
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitord", "status", "-c", str(daemon.cfg_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    said = [ln for ln in status.stdout.splitlines() if ln.startswith("TLS certificate ")]
    assert len(said) == 2 and str(soon.client_cert) in said[0], status.stdout
    assert "(in 10 days)" in said[0], said
    # And `monitord doctor`, which before read only the broker's certificate and the CA.
    doctor = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitord", "doctor", "-c", str(daemon.cfg_path), "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    told = [ln for ln in doctor.stdout.splitlines() if str(soon.client_cert) in ln]
    assert len(told) == 1 and told[0].startswith("warn  tls files: TLS certificate"), doctor.stdout


async def test_the_station_says_its_https_certificate_expires_ahead(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    m = make_tls_material(tmp_path / "station-tls", server_until=ahead)
    tls = f'tls_cert_file = "{m.server_cert}"\ntls_key_file = "{m.server_key}"'
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=tls)
    async with station_process(cfg, tmp_path / "station.log") as (proc, url):
        assert url.startswith("https://"), url
        await eventually(lambda: bool(_warned(proc.output())), 30, "the station's warning")
        line = _warned(proc.output())[0]
    assert f"TLS certificate {m.server_cert} (station.tls_cert_file) expires " in line, line
    assert "scripts/make-certs.sh --out certs --station" in line, line
    assert "no restart" in line, line
