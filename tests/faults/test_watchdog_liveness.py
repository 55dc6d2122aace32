"""The watchdog (WatchdogSec in systemd/monitord.service) sees a daemon that goes quiet.

WATCHDOG=1 is sent by a task on the event loop (Daemon._watchdog), so a loop blocked by a
synchronous call sends nothing while blocked, and the first look after it withholds the
ping (the loop lagged a whole interval); a chair task that stopped turning (its heartbeat
older than max(5 s, 4 intervals)) withholds every ping, so systemd kills and restarts the
daemon. Liveness audit: checked here with a real datagram socket as NOTIFY_SOCKET and a
real daemon in process (the test itself blocks the loop it shares with the daemon).

Found by it: the notifier's socket was blocking, so with the notify socket's queue full
(PID 1 not reading it for a moment) `sendto` blocked the event loop, and every alarm with
it, until systemd read again (the "socket full" its comment meant to ignore never raised).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.sdnotify import Notifier
from tests.faults.writerkit import running, two_chairs
from tests.kit import eventually


def _pings(sock: socket.socket) -> list[float]:
    """Arrival times of the WATCHDOG=1 datagrams waiting on `sock`."""
    out: list[float] = []
    while True:
        try:
            msg = sock.recv(65536).decode()
        except BlockingIOError:
            return out
        if "WATCHDOG=1" in msg.split("\n"):
            out.append(time.monotonic())


@pytest.fixture
def notify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)
    return sock


async def test_a_blocked_loop_stops_the_pings_and_withholds_the_next(
    tmp_path: Path, notify: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = loads_config(two_chairs(tmp_path, "wd"))
    daemon = Daemon(cfg, notifier=Notifier(str(tmp_path / "notify.sock")))
    got: list[float] = []

    def pinged(n: int) -> bool:
        got.extend(_pings(notify))
        return len(got) >= n

    async with running(daemon):
        await eventually(lambda: pinged(3), 10, "pings")
        caplog.set_level(logging.ERROR, "monitord")
        _pings(notify)  # the socket is empty now
        time.sleep(1.0)  # a blocking call on the event loop (10 intervals)  # noqa: ASYNC251
        # Read before the loop turns again: a ping sent while it was blocked (from a
        # thread, say) would be waiting here.
        during = _pings(notify)
        await eventually(lambda: "watchdog withheld: loop lag" in caplog.text, 10, "withheld")
        got.clear()
        await eventually(lambda: pinged(2), 10, "pings again")
    notify.close()
    assert during == []


async def test_a_chair_task_that_stops_turning_withholds_every_ping(
    tmp_path: Path, notify: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    """A chair task gone (here: cancelled, the loop alive) is a stale heartbeat after
    max(5 s, 4 intervals): the pings stop, so systemd restarts the daemon (WatchdogSec)."""
    cfg = loads_config(two_chairs(tmp_path, "wd"))
    daemon = Daemon(cfg, notifier=Notifier(str(tmp_path / "notify.sock")))
    async with running(daemon):
        await eventually(lambda: bool(_pings(notify)), 10, "pings")
        caplog.set_level(logging.ERROR, "monitord")
        assert daemon.supervisor is not None
        daemon.supervisor.cancel("chair:chair-a")
        await eventually(lambda: "stale chairs ['chair-a']" in caplog.text, 10, "stale")
        _pings(notify)
        await asyncio.sleep(0.5)  # 5 intervals, each withheld
        assert _pings(notify) == []


def test_a_full_notify_socket_never_blocks_the_notifier(tmp_path: Path) -> None:
    """Nobody reads the socket (its queue fills after a few datagrams): each notify
    returns at once, the message dropped. Before, the 20th-odd call blocked for ever
    (run in a thread here, so that the old behaviour fails instead of hanging)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    notifier = Notifier(str(tmp_path / "notify.sock"))
    done = threading.Event()

    def ping() -> None:
        for _ in range(1000):
            notifier.watchdog()
        done.set()

    threading.Thread(target=ping, daemon=True).start()
    try:
        assert done.wait(10), "notify blocked on a full socket"
    finally:
        sock.close()  # ends a blocked sendto (ECONNREFUSED) so the thread exits
        notifier.close()
