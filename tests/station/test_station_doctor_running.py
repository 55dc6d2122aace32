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
import socket
import subprocess
import sys
from pathlib import Path

from monitord.commands.doctor_live import live_station_checks, station_listen
from monitord.config import load_config
from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.servers import TlsMaterial, free_port
from tests.station.station_kit import station_config, station_in_process, station_process


def serving(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


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


def doctor_rc(cfg: Path) -> tuple[int, dict[str, str]]:
    run = [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg), "--timeout", "3"]
    p = subprocess.run(run, capture_output=True, text=True, timeout=90)
    lines: dict[str, str] = {}
    for ln in p.stdout.splitlines():
        lines.setdefault(ln.split(None, 1)[1].split(":", 1)[0], ln)
    return p.returncode, lines


def other_web_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    """Some other program's web server on the station's listen address."""
    return subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_doctor_tells_another_program_on_the_listen_address_from_the_station(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """Before: anything accepting connections on `[station] listen` (a forgotten web server
    on 8080) was taken for the running station: the broker login, round trip and stations
    were all `skip` ('a station serves on ... here'), exit 0, while the station itself
    could not start there. Now the login is made and a `station listen` line fails."""
    port = free_port()
    cfg = station_config(tmp_path, acl_broker, port=port)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("<title>someone else</title>\n")
    other = other_web_server(tmp_path / "www", port)
    try:
        await eventually(lambda: serving(port), 30, "the other program listens")
        rc, lines = await asyncio.to_thread(doctor_rc, cfg)
    finally:
        other.kill()
        other.wait(10)
    assert rc == 1, lines
    assert lines["station listen"].startswith("FAIL"), lines
    assert "another program" in lines["station listen"], lines
    assert lines["mqtt"].startswith("ok") and "connected as station-1" in lines["mqtt"], lines


async def test_a_tls_station_is_told_from_another_program(
    tmp_path: Path, acl_broker: AclMosquitto, tls_material: TlsMaterial
) -> None:
    """The station served over TLS is recognised as the station (no `station listen`
    FAIL on a healthy station, its login not taken)."""
    m = tls_material
    tls = f'tls_cert_file = "{m.server_cert}"\ntls_key_file = "{m.server_key}"'
    cfg = load_config(station_config(tmp_path, acl_broker, extra=tls))
    async with station_in_process(tmp_path / "station.toml") as (_, url):
        assert url.startswith("https://"), url
        assert await asyncio.to_thread(station_listen, cfg) == []
        live = await asyncio.to_thread(live_station_checks, cfg)
    assert live is not None and "a station serves on" in live[0].detail, live


async def test_doctor_tells_another_program_on_the_ipv4_half_of_every_address(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """`listen = "[::]:PORT"` is every IPv4 and IPv6 address: the station needs the port on
    both. Before: doctor looked for it on ::1 only, so another program's web server on the
    IPv4 port (a forgotten one on 0.0.0.0, or any machine whose IPv6 is off) was not seen:
    no `station listen` line, while the station could not start there."""
    port = free_port()
    cfg = station_config(tmp_path, acl_broker, port=port, host="::")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("<title>someone else</title>\n")
    other = other_web_server(tmp_path / "www", port)
    try:
        await eventually(lambda: serving(port), 30, "the other program listens")
        rc, lines = await asyncio.to_thread(doctor_rc, cfg)
        run = [sys.executable, "-m", "monitord", "station", "-c", str(cfg)]
        station = await asyncio.to_thread(
            subprocess.run, run, capture_output=True, text=True, timeout=60
        )
    finally:
        other.kill()
        other.wait(10)
    assert station.returncode != 0 and "cannot listen on" in station.stderr, station.stderr
    assert rc == 1, lines
    assert lines["station listen"].startswith("FAIL"), lines
    assert "another program" in lines["station listen"], lines
