"""`monitord doctor` against the real servers (issue 7, acceptance 3): everything reachable
passes; a stopped broker, a wrong password, a missing database, a missing serial port each
fail their own line with a fix hint and exit 1. Bluetooth is a `skip` line with a note on
this machine (no D-Bus / adapter), never a pytest skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TLS_USERS
from tests.servers import Influxd, Mosquitto, TlsMaterial, make_tls_material, recording_http


@pytest.fixture
def pty_port() -> Iterator[str]:
    """A real pseudo-terminal standing in for a USB serial adapter."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def write_config(
    tmp: Path,
    mqtt: Mosquitto,
    tls: TlsMaterial,
    influxd: Influxd,
    db: str,
    port: str,
    password: str = TLS_USERS["monitord"],
) -> Path:
    creds = tmp / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "mqtt-password").write_text(password + "\n")
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "doctor-test"

[mqtt]
host = "{mqtt.host}"
port = {mqtt.port}
username = "monitord"
password_file = "mqtt-password"

  [mqtt.tls]
  ca_file = "{tls.ca_file}"

[influx]
url = "{influxd.url}"
api = "v1"
database = "{db}"

[storage]
path = "{tmp / "state" / "outbox.sqlite"}"
max_mb = 1

[[chairs]]
id = "chair-1"

  [[chairs.devices]]
  id = "oximeter"
  driver = "masimo-ascii"
  port = "{port}"
"""
    )
    return cfg


def doctor(cfg: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """(exit code, the last line of each check name)."""
    rc, all_lines = doctor_lines(cfg, env)
    return rc, {ln.split(None, 1)[1].split(":", 1)[0]: ln for ln in all_lines}


def doctor_lines(cfg: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitord",
            "doctor",
            "--config",
            str(cfg),
            "--credentials",
            str(cfg.parent / "creds"),
            "--timeout",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert p.stderr == "", p.stderr
    print(p.stdout)
    lines = p.stdout.splitlines()
    for ln in lines:
        assert ln.split(None, 1)[0] in ("ok", "FAIL", "skip", "warn"), ln
    return p.returncode, lines


@pytest.fixture
def cfg(
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,
) -> Path:
    return write_config(tmp_path, mosquitto_tls, tls_material, influxd, influx_db, pty_port)


def test_all_good_passes(cfg: Path) -> None:
    rc, lines = doctor(cfg)
    assert rc == 0, "\n".join(lines.values())
    for name in ("config", "serial chair-1/oximeter", "mqtt", "influx v1", "disk"):
        assert lines[name].startswith("ok "), lines[name]
    assert "connected as monitord over TLS" in lines["mqtt"]
    assert "writable" in lines["influx v1"]
    # No D-Bus / adapter on the test machine and no BLE device configured: a clear note.
    assert lines["bluetooth"].startswith("skip "), lines["bluetooth"]
    assert "no BLE devices configured" in lines["bluetooth"]
    assert lines["clock"].split()[0] in ("ok", "skip"), lines["clock"]


def test_broker_stopped_fails_mqtt_line(cfg: Path, mosquitto_tls: Mosquitto) -> None:
    mosquitto_tls.stop()
    rc, lines = doctor(cfg)
    assert rc == 1
    assert lines["mqtt"].startswith("FAIL "), lines["mqtt"]
    assert "not reachable" in lines["mqtt"] and "-> fix: start the broker" in lines["mqtt"]
    assert lines["influx v1"].startswith("ok ")  # only that line fails


def test_wrong_password_fails_mqtt_line(
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,
) -> None:
    cfg = write_config(
        tmp_path, mosquitto_tls, tls_material, influxd, influx_db, pty_port, password="wrong"
    )
    rc, lines = doctor(cfg)
    assert rc == 1
    assert lines["mqtt"].startswith("FAIL "), lines["mqtt"]
    assert "login refused for user monitord" in lines["mqtt"]
    assert "-> fix: check mqtt.username and mqtt.password_file against" in lines["mqtt"]


def test_a_user_the_broker_has_no_account_for_is_told_how_to_add_one(
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,
) -> None:
    # The fleet's eighth chair whose account nobody made on the broker: mosquitto refuses
    # it exactly as a wrong password, and the fix named only the Pi's own files.
    cfg = write_config(tmp_path, mosquitto_tls, tls_material, influxd, influx_db, pty_port)
    cfg.write_text(cfg.read_text().replace('username = "monitord"', 'username = "chair-8"'))
    rc, lines = doctor(cfg)
    assert rc == 1
    assert "login refused for user chair-8" in lines["mqtt"], lines["mqtt"]
    assert "mosquitto_passwd /etc/mosquitto/monitord.passwd chair-8)" in lines["mqtt"]


def test_passwords_in_the_environment_are_the_ones_judged(
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
    pty_port: str,
) -> None:
    """MONITORD_MQTT_PASSWORD / MONITORD_INFLUX_PASSWORD take the files' place in the
    daemon (monitord.config.read_secret) and in doctor's config line. Before, the mqtt
    and influx lines read the files anyway: `FAIL mqtt: login refused` for a stale file
    the daemon never reads, `FAIL influx v1: cannot authenticate` for a missing one."""
    cfg = write_config(
        tmp_path, mosquitto_tls, tls_material, influxd, influx_db, pty_port, password="stale"
    )
    # A v1 login whose password file is not there: the environment's is used.
    cfg.write_text(
        cfg.read_text().replace(
            'api = "v1"\n', 'api = "v1"\nusername = "writer"\npassword_file = "influx-password"\n'
        )
    )
    env = {"MONITORD_MQTT_PASSWORD": TLS_USERS["monitord"], "MONITORD_INFLUX_PASSWORD": "pw"}
    rc, lines = doctor(cfg, env)
    assert rc == 0, "\n".join(lines.values())
    assert lines["mqtt"].startswith("ok ") and lines["influx v1"].startswith("ok "), lines
    # Which secret was used, said on the line.
    assert (
        "(monitord's password from environment variable MONITORD_MQTT_PASSWORD)" in (lines["mqtt"])
    )
    assert "(password from environment variable MONITORD_INFLUX_PASSWORD)" in lines["influx v1"]
    # Without them, the files: the stale one refused, the missing one named.
    rc, lines = doctor(cfg, {"MONITORD_MQTT_PASSWORD": "", "MONITORD_INFLUX_PASSWORD": ""})
    assert rc == 1
    assert "login refused for user monitord" in lines["mqtt"], lines["mqtt"]
    assert "influx.password_file not found at " in lines["influx v1"], lines["influx v1"]
    # A wrong one in the environment is the one the fix names.
    rc, lines = doctor(cfg, {**env, "MONITORD_MQTT_PASSWORD": "wrong"})
    assert (
        "-> fix: check mqtt.username and the password in MONITORD_MQTT_PASSWORD" in (lines["mqtt"])
    ), lines["mqtt"]


def test_empty_secret_file_is_named(cfg: Path) -> None:
    (cfg.parent / "creds" / "mqtt-password").write_text("")
    rc, lines = doctor(cfg)
    assert rc == 1
    assert "mqtt-password is empty" in lines["mqtt"], lines["mqtt"]


def test_secret_named_as_under_the_unit_fails_every_line(cfg: Path) -> None:
    """`secrets_mqtt-password` in the secrets directory is the name the credential has
    *under* the unit; systemd would pass that file as `secrets_secrets_mqtt-password`, which
    the daemon never reads. Doctor's mqtt line used to find it (and log in: ok) while its
    config line failed it: the admin got both answers."""
    creds = cfg.parent / "creds"
    (creds / "mqtt-password").rename(creds / "secrets_mqtt-password")
    rc, lines = doctor_lines(cfg)
    assert rc == 1
    fix = f"rename it to {creds / 'mqtt-password'}"
    for name in ("config checks", "mqtt"):
        said = [ln for ln in lines if ln.startswith(f"FAIL  {name}:") and fix in ln]
        assert said, f"no FAIL {name} line naming the fix:\n" + "\n".join(lines)


def test_wrong_ca_fails_tls(cfg: Path, tmp_path: Path) -> None:
    other = make_tls_material(tmp_path / "other-ca")
    cfg.write_text(re.sub(r'ca_file = ".*"', f'ca_file = "{other.ca_file}"', cfg.read_text()))
    rc, lines = doctor(cfg)
    assert rc == 1
    assert "TLS failed" in lines["mqtt"] and "ca_file" in lines["mqtt"], lines["mqtt"]


def test_database_missing_and_server_down(cfg: Path, influxd: Influxd) -> None:
    text = cfg.read_text()
    missing = cfg.with_name("missing-db.toml")
    missing.write_text(re.sub(r'database = ".*"', 'database = "no_such_db"', text))
    rc, lines = doctor(missing)
    assert rc == 1
    assert "database no_such_db not found" in lines["influx v1"], lines["influx v1"]
    assert 'CREATE DATABASE "no_such_db"' in lines["influx v1"]

    influxd.stop()
    rc, lines = doctor(cfg)
    assert rc == 1
    assert "not reachable" in lines["influx v1"] and "-> fix:" in lines["influx v1"]


def test_retention_policy_missing_is_the_admins_fix(cfg: Path, influxd: Influxd) -> None:
    # influxd 1.x answers a write to a retention policy it lacks with HTTP 500: doctor said
    # "server error ... -> fix: see the database's log" (advinflux44, 2026-12-05).
    text = re.sub(r'(database = ".*")', r'\1\nretention_policy = "no_such_rp"', cfg.read_text())
    cfg.write_text(text)
    rc, lines = doctor(cfg)
    assert rc == 1
    line = lines["influx v1"]
    assert "retention policy not found: no_such_rp" in line, line
    assert "influx.retention_policy" in line and "database's log" not in line, line


def test_missing_serial_port(cfg: Path, pty_port: str) -> None:
    cfg.write_text(cfg.read_text().replace(pty_port, "/dev/ttyUSB-monitord-absent"))
    rc, lines = doctor(cfg)
    assert rc == 1
    line = lines["serial chair-1/oximeter"]
    assert "does not exist" in line and "/dev/serial/by-id" in line, line


def test_bad_config_fails_first_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[site]\nid = "doctor-test"\n[mqtt]\nport = 0\n[[chairs]]\nid = "chair-1"\n')
    rc, lines = doctor(cfg)
    assert rc == 1
    assert lines["config"].startswith("FAIL ") and "mqtt.port" in lines["config"]
    assert f"-> fix: monitord check-config {cfg}" in lines["config"]


def test_an_influx_url_host_no_lookup_takes_fails_the_config_line(tmp_path: Path) -> None:
    """A direction mark (U+200E) in influx.url's host: before, check-config said ok and
    doctor crashed ("crashed (a bug: please report it)", a UnicodeEncodeError from
    http.client writing the Host header), exit 1 with a traceback's summary on stderr."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[site]\nid = "doctor-test"\n[[chairs]]\nid = "chair-1"\n'
        '[influx]\nurl = "http://influx\\u200E.lan:8086"\napi = "v1"\ndatabase = "clinic"\n'
    )
    rc, lines = doctor(cfg)
    assert rc == 1
    assert lines["config"].startswith("FAIL ") and "influx.url: contains U+200E" in lines["config"]
    assert f"-> fix: monitord check-config {cfg}" in lines["config"]


def test_an_influx_url_host_not_ascii_is_asked_for_as_idna(tmp_path: Path) -> None:
    """`ωmega.lan` (a name IDNA takes, outside Latin-1): before, doctor crashed writing
    it into the request (UnicodeEncodeError); now it asks for `xn--...`, as the daemon's
    aiohttp does. The server stands as doctor's HTTP proxy: no DNS here knows the name."""
    cfg = tmp_path / "omega.toml"
    cfg.write_text(
        '[site]\nid = "doctor-test"\n[[chairs]]\nid = "chair-1"\n'
        '[influx]\nurl = "http://\\u03C9mega.lan:8086"\napi = "v1"\ndatabase = "clinic"\n'
    )
    with recording_http(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n") as (
        proxy,
        heads,
    ):
        rc, lines = doctor(cfg, {"http_proxy": proxy, "no_proxy": "", "NO_PROXY": ""})
    assert rc == 1 and "crashed" not in "\n".join(lines.values())
    assert lines["config"].startswith("ok "), lines["config"]
    assert "influx v1" in lines, lines
    first = heads[0].decode("ascii").split("\r\n")
    assert first[0] == "GET http://xn--mega-fpd.lan:8086/ping HTTP/1.1", first
    assert "Host: xn--mega-fpd.lan:8086" in first, first
