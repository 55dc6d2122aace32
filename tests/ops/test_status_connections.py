"""`monitord status` names the broker's and the database's connection (docs/operations.md,
"monitord status"): connected since when, or DOWN since when with the last error in one
line, or disabled.

Before: status had no such line. An admin debugging "the station shows nothing" could not
tell "no station is open" from "this Pi cannot reach the broker" (refused, TLS, login)
without the journal. Here a real daemon runs against a real mosquitto (tests/servers.py):
logged in, then with the broker stopped, and with a wrong password; InfluxDB on a closed
port, and disabled.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.e2e_kit import DaemonProcess, Oximeter, mqtt_section, whole_second, write_config
from tests.faults.test_disabled_sink import dead_influx
from tests.servers import Mosquitto

USER, PASSWORD = "chair-1", "pw-chair-1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    (tmp_path / "mq").mkdir()
    m = Mosquitto(tmp_path / "mq", users={USER: PASSWORD})
    m.start()
    try:
        yield m
    finally:
        m.stop()


def config(tmp: Path, broker: Mosquitto, password: str, influx: str) -> Path:
    pw = tmp / "mqtt.pass"
    pw.write_text(password + "\n")
    pw.chmod(0o600)
    mqtt = mqtt_section(broker, "monitord") + f'username = "{USER}"\npassword_file = "{pw}"\n'
    # Status is written with the next group commit: soon, for the test.
    return write_config(tmp, mqtt=mqtt, influx=influx, extra="commit_interval_s = 0.2\n")


def status(cfg: Path, *more: str) -> str:
    """`monitord status` run as the admin would (its output; an error before the daemon
    made its store)."""
    run = [sys.executable, "-m", "monitord", "status", "--config", str(cfg), *more]
    p = subprocess.run(run, capture_output=True, text=True, timeout=60)
    return p.stdout if p.returncode == 0 else p.stdout + p.stderr


SHOWN = {"connected": "connected since 20", "down": "DOWN since 20"}


async def wait_status(cfg: Path, sink: str, state: str, within_s: float = 30) -> str:
    """Poll `monitord status` until its line for `sink` shows `state`; the text. Then
    `--json` says the same."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        text = await asyncio.to_thread(status, cfg)
        if SHOWN[state] in "".join(ln for ln in text.splitlines() if is_line(ln, sink)):
            break
        assert loop.time() < deadline, f"{sink} not {state} within {within_s} s:\n{text}"
        await asyncio.sleep(0.3)
    js = json.loads(await asyncio.to_thread(status, cfg, "--json"))
    assert js["connections"][sink]["state"] == state, js["connections"]
    assert js["connections"] == js["daemon"]["connections"]
    return text


def is_line(ln: str, sink: str) -> bool:
    return ln.startswith((f"connection {sink} ", f"connection {sink}:"))


def line(text: str, sink: str) -> str:
    (ln,) = [ln for ln in text.splitlines() if is_line(ln, sink)]
    return ln


async def test_status_says_connected_then_broker_down_and_influx_failing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = config(tmp_path, broker, PASSWORD, dead_influx())
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            text = await wait_status(cfg, "mqtt", "connected")
            mqtt = line(text, "mqtt")
            print(mqtt)
            assert mqtt.startswith(f"connection mqtt (broker {broker.host}:{broker.port}): ")
            assert "connected since 20" in mqtt and "DOWN" not in mqtt
            # Readings give InfluxDB something to write; its port is closed.
            for _ in range(10):
                await ox.send(97.0, whole_second())
                await asyncio.sleep(0.1)
            text = await wait_status(cfg, "influx", "down")
            influx = line(text, "influx")
            print(influx)
            assert "DOWN since 20" in influx and "is InfluxDB running" in influx
            broker.stop()
            text = await wait_status(cfg, "mqtt", "down")
            # The reconnects' error comes once the loss is seen.
            for _ in range(50):
                if "connection refused" in line(text, "mqtt"):
                    break
                await asyncio.sleep(0.2)
                text = await asyncio.to_thread(status, cfg)
            mqtt = line(text, "mqtt")
            print(mqtt)
            assert "DOWN since 20" in mqtt and "connection refused" in mqtt
        finally:
            assert daemon.stop() == 0, daemon.output()[-3000:]


async def test_status_names_a_refused_login_and_a_disabled_database(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cfg = config(tmp_path, broker, "not-the-password", "\n[influx]\nenabled = false\n")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemon.start()
    try:
        text = await wait_status(cfg, "mqtt", "down")
    finally:
        assert daemon.stop() == 0, daemon.output()[-3000:]
    print(text)
    mqtt = line(text, "mqtt")
    assert "DOWN since 20" in mqtt and "refused the login" in mqtt
    assert line(text, "influx") == "connection influx: disabled in the config"


def test_the_status_is_rewritten_per_change_not_per_retry() -> None:
    """The cost (SD card): the daemon rewrites its status when `on_change` fires, which is
    at a change of state or of the error's text, never at a retry that fails the same way
    nor at each accepted write."""
    from monitord.sinks.linkstate import LinkState

    link = LinkState("broker 127.0.0.1:1883", ["chair-1", "chair-2"])
    changes: list[str] = []
    link.on_change = lambda: changes.append(link.state)
    link.up("chair-1")
    assert link.state == "connecting" and changes == []  # chair-2 has not answered yet
    link.up("chair-2")
    for _ in range(100):
        link.up("chair-1")  # every accepted write says so
    link.down("broker 127.0.0.1:1883 refused the login", "chair-2")
    for _ in range(100):
        link.down("broker 127.0.0.1:1883 refused the login", "chair-2")  # backoff retries
    assert changes == ["connected", "down"]
    assert link.as_dict()["last_error"] == "chair-2: broker 127.0.0.1:1883 refused the login"
    link.down("broker 127.0.0.1:1883 not reachable (connection refused)\nis it running?", "chair-2")
    assert changes == ["connected", "down", "down"]  # a new error text
    assert "\n" not in (link.last_error or "")
    link.up("chair-2")
    assert changes[-1] == "connected" and link.as_dict()["last_error"] is not None
