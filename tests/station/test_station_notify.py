"""The station speaks sd_notify as the daemon does (systemd/monitord-station.service:
Type=notify, WatchdogSec=): READY=1 once it listens, WATCHDOG=1 from its event loop,
STOPPING=1 on SIGTERM. Before, it sent nothing and its unit had no watchdog: a hung loop
left it `active` with every page showing NOT LIVE and nothing to restart it.

The pings come from the event loop itself (monitord/sdnotify.py `pace_watchdog`): a loop
blocked by a call that never returns sends none, and the first turn after a stall longer
than the interval withholds its ping. Real station, real broker; the stall is a blocking
call scheduled on the in-process station's loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitord.config import load_config
from monitord.sdnotify import Notifier
from monitord.station.server import Station
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import station_config


def _receiver(tmp: Path) -> tuple[socket.socket, str]:
    path = str(tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock, path


def _drain(sock: socket.socket, into: list[str]) -> list[str]:
    """Every datagram already sent (a send on a local datagram socket is queued at once)."""
    while True:
        try:
            into.extend(sock.recv(4096, socket.MSG_DONTWAIT).decode().split("\n"))
        except BlockingIOError:
            return into


def test_station_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    sock, path = _receiver(tmp_path)
    sock.settimeout(0.5)
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitord", "station", "-c", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    msgs: list[str] = []

    def collect(seconds: float, done: Callable[[], bool]) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until and not done():
            try:
                msgs.extend(sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                if proc.poll() is not None:
                    return

    try:
        collect(30, lambda: msgs.count("WATCHDOG=1") >= 3)
        assert "READY=1" in msgs, (msgs, proc.poll())
        assert msgs.index("READY=1") < msgs.index("WATCHDOG=1")
        assert msgs.count("WATCHDOG=1") >= 3, msgs
        assert any(m.startswith("STATUS=") and "broker" in m for m in msgs), msgs
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        collect(1, lambda: "STOPPING=1" in msgs)
        assert rc == 0
        assert "STOPPING=1" in msgs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    out = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in out, out


async def test_a_blocked_station_loop_sends_no_watchdog_ping(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    sock, path = _receiver(tmp_path)
    station = Station(
        load_config(station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)),
        Notifier(path),
    )
    stop = asyncio.Event()
    served = asyncio.create_task(station.serve(stop))
    msgs: list[str] = []
    during: list[str] = []

    def hang() -> None:
        # A call that blocks the loop (for 2 s, 20 ping intervals): nothing the loop
        # runs may ping meanwhile.
        _drain(sock, msgs)
        time.sleep(2.0)
        _drain(sock, during)

    try:
        await eventually(lambda: _drain(sock, msgs).count("WATCHDOG=1") >= 2, 10)
        assert "READY=1" in msgs
        with caplog.at_level(logging.ERROR, "monitord.sdnotify"):
            asyncio.get_running_loop().call_soon(hang)
            await asyncio.sleep(0)  # the stall runs here
            assert "WATCHDOG=1" not in during, during
            after: list[str] = []
            await eventually(lambda: "WATCHDOG=1" in _drain(sock, after), 10)
        # The first turn after the stall lagged a whole interval: no ping for it.
        assert any("watchdog withheld: loop lag" in r.getMessage() for r in caplog.records)
        stop.set()
        await asyncio.wait_for(served, 15)
        _drain(sock, msgs)
        assert "STOPPING=1" in msgs
    finally:
        stop.set()
        await asyncio.wait_for(served, 15)
        sock.close()
