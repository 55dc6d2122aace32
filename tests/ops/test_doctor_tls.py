"""`monitord doctor` and the broker's TLS: port mix-ups and certificate expiry.

Before: a config without [mqtt.tls] against the TLS listener said "no answer within 3 s
-> fix: is the broker running and the port open (firewall)?" plus a stray stderr line from
paho ("failed to receive on socket: [Errno 104] Connection reset by peer"); doctor gave no
warning before the broker's certificate expired, and after it only "check mqtt.tls.ca_file
is the broker's CA ..." (no word of renewing).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TLS_USERS
from tests.ops.test_doctor import doctor, pty_port, write_config  # noqa: F401 (fixture)
from tests.servers import Influxd, Mosquitto, TlsMaterial, make_tls_material, session_tmpdir

FAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


@pytest.fixture
def cfg(
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,  # noqa: F811
) -> Path:
    return write_config(tmp_path, mosquitto_tls, tls_material, influxd, influx_db, pty_port)


def test_plain_config_against_the_tls_listener(cfg: Path, mosquitto_tls: Mosquitto) -> None:
    cfg.write_text(re.sub(r"\n  \[mqtt.tls\]\n  ca_file = .*\n", "\n", cfg.read_text()))
    rc, lines = doctor(cfg)  # asserts nothing reached stderr
    assert rc == 1
    assert (
        lines["mqtt"].startswith("FAIL")
        and f"port {mosquitto_tls.port} speaks TLS" in (lines["mqtt"])
    )
    assert "-> fix: check [mqtt] port and [mqtt.tls]" in lines["mqtt"]


def test_tls_config_against_the_plain_listener(
    cfg: Path, mosquitto_tls: Mosquitto, mosquitto: Mosquitto
) -> None:
    cfg.write_text(
        cfg.read_text().replace(f"port = {mosquitto_tls.port}", f"port = {mosquitto.port}")
    )
    rc, lines = doctor(cfg)
    assert rc == 1
    assert f"port {mosquitto.port} speaks plain MQTT" in lines["mqtt"], lines["mqtt"]
    assert "-> fix: check [mqtt] port and [mqtt.tls]" in lines["mqtt"]


@pytest.fixture
def soon_cfg(
    tmp_path: Path,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,  # noqa: F811
) -> Iterator[Path]:
    """doctor's config against a broker of its own whose certificate expires in 20 days
    (the session's test broker's is valid far longer)."""
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    m = make_tls_material(tmp_path / "tls-soon", server_until=ahead)
    workdir = session_tmpdir("mosquitto-soon")
    broker = Mosquitto(workdir, tls=m, users=TLS_USERS)
    broker.start()
    try:
        yield write_config(tmp_path, broker, m, influxd, influx_db, pty_port)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_certificate_expiring_within_30_days_is_warned(soon_cfg: Path) -> None:
    """The broker's certificate expires in 20 days."""
    rc, lines = doctor(soon_cfg)
    assert rc == 0, lines
    warn = lines["mqtt tls"]
    assert warn.startswith("warn") and "certificate of" in warn and " expires 20" in warn
    assert "scripts/make-certs.sh" in warn


def test_an_expired_certificate_says_renew(soon_cfg: Path) -> None:
    """40 days ahead, the broker's certificate (20 days) has expired."""
    cfg = soon_cfg
    # Never a skip: scripts/setup.sh installs it for the tests (Debian package faketime).
    assert FAKETIME, "libfaketime missing: install the Debian package faketime"
    env = {**os.environ, "FAKETIME": "+40d", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "LD_PRELOAD": FAKETIME[0]}  # fmt: skip
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg),
         "--credentials", str(cfg.parent / "creds"), "--timeout", "3"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    line = next(ln for ln in p.stdout.splitlines() if ln.split()[1:2] == ["mqtt:"])
    print(line)
    assert p.returncode == 1 and line.startswith("FAIL") and "certificate has expired" in line
    assert "-> fix: renew it with scripts/make-certs.sh" in line and "clock" in line


def test_a_clock_behind_the_certificate_says_wait_for_time_sync(cfg: Path) -> None:
    """A Pi booted on fake-hwclock's saved time, 3 days behind: the broker's certificate
    (valid from yesterday) is "not yet valid". Before, doctor sent the admin to the
    certificates ("check mqtt.tls.ca_file is the broker's CA ..."); now it names the
    clock, the certificate's first valid time and the fix."""
    assert FAKETIME, "libfaketime missing: install the Debian package faketime"
    env = {**os.environ, "FAKETIME": "-3d", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "LD_PRELOAD": FAKETIME[0]}  # fmt: skip
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg),
         "--credentials", str(cfg.parent / "creds"), "--timeout", "3"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    line = next(ln for ln in p.stdout.splitlines() if ln.split()[1:2] == ["mqtt:"])
    print(line)
    assert p.returncode == 1 and line.startswith("FAIL"), line
    assert "TLS failed: the clock is 20" in line and "certificate is valid from 20" in line
    assert "-> fix: this machine's clock is behind" in line and "wait for time sync" in line
    assert "ca_file is the broker's CA" not in line
    # The clock may be right (NTP answered) and the certificate issued valid from a time
    # ahead, or a machine in between serving its own: before, "the certificates are not at
    # fault", and the admin waited for a time sync that had long happened.
    assert "not at fault" not in line, line
    assert "if it says yes already, the clock is right and the certificate is wrong" in line


def test_a_broker_name_that_does_not_resolve(cfg: Path, mosquitto_tls: Mosquitto) -> None:
    """The network not up yet at boot (or a misspelt mqtt.host): before, "not reachable
    ([Errno -2] Name or service not known) -> fix: start the broker"."""
    cfg.write_text(
        cfg.read_text().replace(f'host = "{mosquitto_tls.host}"', 'host = "broker.invalid"')
    )
    rc, lines = doctor(cfg)
    assert rc == 1
    line = lines["mqtt"]
    assert line.startswith("FAIL") and "the host name does not resolve" in line, line
    assert "`getent hosts broker.invalid`" in line and "start the broker" not in line, line
