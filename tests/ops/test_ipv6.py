"""A clinic network addressed in IPv6: the broker at `::1` (as `fd00::10` on a clinic's
LAN), InfluxDB at `http://[::1]:port`. Real mosquitto (with TLS, its certificate naming
::1 as an IP address) and real InfluxDB listening on ::1 only, the real daemon and doctor.

Before, every line naming the broker wrote its address and port as `::1:1883` (doctor's
`mqtt://::1:1883`, the status line's `broker ::1:1883`, the journal's `connected to
::1:1883`): not an address an admin can paste into mosquitto_sub, a browser or `ss`, and
ambiguous (the address `::1:1883`, or port 1883 of `::1`?). Now it is `[::1]:1883`, as
URLs write it (RFC 3986 section 3.2.2).

And `scripts/make-certs.sh --broker fd00::10` (NAME must be the `[mqtt] host` the Pis use,
docs/install.md) wrote the address as a DNS name only (`DNS:fd00::10`; `--broker
192.168.1.20` likewise): a client matches an address against the certificate's IP entries
only, so every chair's TLS failed ("IP address mismatch") with the certificate just made.
Now an address given as NAME is an IP entry."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TLS_USERS
from tests.e2e.e2e_kit import DaemonProcess, Oximeter, mqtt_section, whole_second, write_config
from tests.ops.test_doctor import doctor_lines, pty_port
from tests.ops.test_doctor import write_config as doctor_config
from tests.ops.test_script_help import REPO
from tests.ops.test_status_connections import line, wait_status
from tests.servers import LOOPBACK6, Influxd, Mosquitto, TlsMaterial, make_tls_material, wait_for

__all__ = ["pty_port"]  # the fixture, used by name


def mosquitto6(
    workdir: Path, tls: TlsMaterial | None = None, users: dict[str, str] | None = None
) -> Iterator[Mosquitto]:
    """A mosquitto listening on ::1 only, for a fixture: stopped after the test."""
    workdir.mkdir()
    m = Mosquitto(workdir, tls=tls, users=users, host=LOOPBACK6)
    m.start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def tls_soon(tmp_path: Path) -> TlsMaterial:
    """Test material whose broker certificate expires in 20 days: doctor warns of it, and
    the warning names the broker (the session's material is valid far longer)."""
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    return make_tls_material(tmp_path / "tls", server_until=soon)


@pytest.fixture
def broker6(tmp_path: Path, tls_soon: TlsMaterial) -> Iterator[Mosquitto]:
    yield from mosquitto6(tmp_path / "mq", tls=tls_soon, users=TLS_USERS)


@pytest.fixture
def plain_broker6(tmp_path: Path) -> Iterator[Mosquitto]:
    yield from mosquitto6(tmp_path / "mq6")


@pytest.fixture
def influxd6(tmp_path: Path) -> Iterator[Influxd]:
    (tmp_path / "influx").mkdir()
    i = Influxd(tmp_path / "influx", host=LOOPBACK6)
    i.start()
    i.create_database("clinic")
    try:
        yield i
    finally:
        i.stop()


def test_doctor_names_an_ipv6_broker_in_brackets_and_checks_its_ip_certificate(
    tmp_path: Path, broker6: Mosquitto, tls_soon: TlsMaterial, influxd6: Influxd, pty_port: str
) -> None:
    cfg = doctor_config(tmp_path, broker6, tls_soon, influxd6, "clinic", pty_port)
    assert 'host = "::1"' in cfg.read_text()
    rc, lines = doctor_lines(cfg)
    by_name = {ln.split(None, 1)[1].split(":", 1)[0]: ln for ln in lines}
    mqtt, influx = by_name["mqtt"], by_name["influx v1"]
    # Hostname checking on (the default): the server certificate's IP address ::1 matched.
    head = f"ok    mqtt: mqtts://[::1]:{broker6.port}: connected as monitord over TLS "
    assert mqtt.startswith(head), mqtt
    # The broker's certificate expires in 20 days: the warning names the broker too.
    tls = [ln for ln in lines if ln.startswith("warn  mqtt tls: ")]
    assert tls and all(f" of [::1]:{broker6.port} expires " in ln for ln in tls), tls
    assert influx.startswith(f"ok    influx v1: http://[::1]:{influxd6.port}: "), influx
    assert rc == 0, "\n".join(lines)


async def test_the_daemon_delivers_to_ipv6_servers_and_names_them_in_brackets(
    tmp_path: Path, plain_broker6: Mosquitto, influxd6: Influxd
) -> None:
    influx = f'\n[influx]\nurl = "{influxd6.url}"\napi = "v1"\ndatabase = "clinic"\n'
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(plain_broker6, "monitord"),
        influx=influx,
        extra="commit_interval_s = 0.2\n",
    )
    where = f"[::1]:{plain_broker6.port}"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            text = await wait_status(cfg, "mqtt", "connected")
            assert line(text, "mqtt").startswith(f"connection mqtt (broker {where}): "), text
            for _ in range(5):
                await ox.send(97.0, whole_second())
                await asyncio.sleep(0.2)
            # The readings reach InfluxDB at its bracketed URL.
            assert await asyncio.to_thread(
                wait_for, lambda: bool(influxd6.rows("SELECT * FROM /.*/", "clinic")), 30
            ), daemon.output()[-3000:]
            plain_broker6.stop()
            text = await wait_status(cfg, "mqtt", "down")
            for _ in range(50):
                if "not reachable" in line(text, "mqtt"):
                    break
                await asyncio.sleep(0.2)
                text = await wait_status(cfg, "mqtt", "down")
            assert f"broker {where} not reachable" in line(text, "mqtt"), text
        finally:
            assert daemon.stop() == 0, daemon.output()[-3000:]
    assert f"MQTT chair-1: connected to {where}" in daemon.output(), daemon.output()[-3000:]


def test_a_broker_certificate_made_for_an_ipv6_address_is_accepted_for_it(
    tmp_path: Path, influxd6: Influxd, pty_port: str
) -> None:
    certs = tmp_path / "certs"
    made = subprocess.run(
        ["bash", str(REPO / "scripts/make-certs.sh"), "--out", str(certs), "--broker", "::1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "for IP:::1," in made.stdout, made.stdout
    tls = TlsMaterial(
        dir=certs,
        ca_file=certs / "clinic-ca.pem",
        server_cert=certs / "broker.pem",
        server_key=certs / "broker.key",
        client_cert=certs / "none.pem",  # no client certificates here
        client_key=certs / "none.key",
    )
    (tmp_path / "mq").mkdir()
    broker = Mosquitto(tmp_path / "mq", tls=tls, users=TLS_USERS, host=LOOPBACK6)
    broker.start()
    try:
        cfg = doctor_config(tmp_path, broker, tls, influxd6, "clinic", pty_port)
        rc, lines = doctor_lines(cfg)
    finally:
        broker.stop()
    (mqtt,) = [ln for ln in lines if ln.startswith(("ok    mqtt: ", "FAIL  mqtt: "))]
    # Hostname checking on (the default): the certificate's IP entry ::1 matched.
    assert mqtt.startswith(
        f"ok    mqtt: mqtts://[::1]:{broker.port}: connected as monitord over TLS"
    ), mqtt
    assert rc == 0, "\n".join(lines)
