"""A chair task that crashes at every start must not silence that chair without an alarm.

Found by the liveness audit: the supervisor restarts a crashed task with a backoff capped
at 60 s. A bug triggered by a chair's state crashes its task again at every start, and the
daemon said so only with a `!!` console line per crash, a WARNING once (DEBUG after) and
"1 task(s) restarting" in `monitord status`: no technical alarm (no `!!!`, nothing in the
side file, the annunciator off), while that chair's alarms were neither evaluated nor
shown (clinical-rules.md "Delivery of alarms": the daemon raises a local technical alarm
when alarms cannot reach the nurse). Now `task.crashing/<task>` (monitord/taskalarm.py) is
raised after a few failures in a row and cleared once the task has run cleanly a while.

The watchdog: a chair task waiting out a long backoff looked stale (its heartbeat older
than max(5 s, 4 intervals)), so the pings were withheld depending on the backoff's jitter
and systemd restarted the daemon into the same stored state. It now keeps pinging and the
alarm says it (the choice is argued in monitord/taskalarm.py).

The seam: one chair's engine `advance` (called at every turn of the chair task) replaced
on the running in-process daemon by one that raises, as a bug in the engine's timers
restored from its snapshot would; the real daemon, store, supervisor and `monitord status`
(a child process reading the store and its side file) around it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.common import child_env
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.sdnotify import Notifier
from tests.faults.writerkit import running, two_chairs
from tests.kit import eventually

REPO = Path(__file__).resolve().parents[2]
KEY = "task.crashing/chair:chair-a"


def _crash(t: float) -> object:
    raise RuntimeError("engine bug on this state")


def _status(db: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--db", str(db)],
        env=child_env(), capture_output=True, text=True, cwd=REPO, timeout=30,
    ).stdout  # fmt: skip


async def test_a_chair_task_crashing_at_every_start_raises_a_technical_alarm(
    tmp_path: Path,
) -> None:
    cfg = loads_config(two_chairs(tmp_path, "crash"))
    said: list[str] = []
    # Thresholds shortened: 3 failures in a row raise it, 2.5 s of clean running clears
    # it (more than the chair task's 1-s heartbeat, after which this seam crashes it).
    daemon = Daemon(
        cfg, console=said.append, restart_backoff_s=(0.05, 0.2), crash_alarm=(3, 2.5, 3600.0)
    )
    async with running(daemon):
        engine = daemon.chairs["chair-a"].engine
        engine.advance = _crash  # type: ignore[method-assign, assignment]
        await eventually(lambda: KEY in daemon.alarms.active, 10, "the alarm")
        alarm = [s for s in said if s.startswith(f"!!! TECHNICAL ALARM {KEY}:")]
        assert len(alarm) == 1, said
        assert "chair chair-a: its alarms are NOT evaluated" in alarm[0], alarm
        assert "RuntimeError: engine bug on this state" in alarm[0], alarm
        # Said at the chair too: the annunciator's pattern (technical: nothing is active).
        assert daemon.annunciator_pattern() == "technical"
        assert "ALARM " + KEY in daemon.summary()
        status = await asyncio.to_thread(_status, tmp_path / "store.sqlite")
        assert f"TECHNICAL ALARM {KEY} since" in status, status
        assert "chair chair-a: its alarms are NOT evaluated" in status, status
        # The other chair is unaffected.
        assert "chair:chair-b" not in str(daemon.alarms.active)

        del engine.advance  # the bug's trigger is gone: the next run stays up
        await eventually(lambda: KEY not in daemon.alarms.active, 10, "the alarm cleared")
        assert any(s.startswith(f"technical alarm {KEY} cleared") for s in said), said
        assert daemon.annunciator_pattern() == "off"
        status = await asyncio.to_thread(_status, tmp_path / "store.sqlite")
        assert f"technical alarm {KEY} cleared at" in status, status


async def test_a_chair_task_in_a_long_backoff_is_not_taken_for_a_wedged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A backoff of 10-20 s (the real cap is 60 s) outlasts the 5-s staleness limit: the
    pings go on while the task waits to restart (its alarm says it)."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.setblocking(False)

    def pings() -> int:
        n = 0
        while True:
            try:
                n += "WATCHDOG=1" in sock.recv(65536).decode().split("\n")
            except BlockingIOError:
                return n

    cfg = loads_config(two_chairs(tmp_path, "crash"))
    daemon = Daemon(
        cfg, notifier=Notifier(str(tmp_path / "notify.sock")), restart_backoff_s=(20.0, 20.0)
    )
    caplog.set_level(logging.ERROR, "monitord")
    try:
        async with running(daemon):
            assert daemon.supervisor is not None
            task = daemon.supervisor.tasks["chair:chair-a"]
            await eventually(lambda: pings() > 0, 10, "pings")
            daemon.chairs["chair-a"].engine.advance = _crash  # type: ignore[method-assign, assignment]
            await eventually(lambda: task.state == "backoff", 10, "the crash")
            # The heartbeat older than the 5-s limit, as 5.5 s of the backoff would leave it
            # (a task in its backoff does not beat): the check reads `last_beat` against
            # the monotonic clock, so aging it is what waiting was, 5.5 s sooner.
            chair_a = daemon.chairs["chair-a"]
            chair_a.last_beat = min(chair_a.last_beat, time.monotonic() - 5.5)
            pings()
            await asyncio.sleep(1.0)  # still in its backoff (at least 10 s)
            assert task.state == "backoff" and task.restarts == 1
            assert pings() > 0, caplog.text
            assert "stale chairs" not in caplog.text
    finally:
        sock.close()


async def test_status_marks_a_chair_whose_task_is_down_after_a_crash(tmp_path: Path) -> None:
    """`monitord status` showed a crashed chair's last recorded state (its links, "active
    alerts: none") as if it were live; the task's state was only in a line of its own at
    the top. Now the chair itself says its task is not running."""
    cfg = loads_config(two_chairs(tmp_path, "crash"))
    daemon = Daemon(cfg, restart_backoff_s=(30.0, 30.0))  # it stays down for the test
    async with running(daemon):
        assert daemon.supervisor is not None
        task = daemon.supervisor.tasks["chair:chair-a"]
        daemon.chairs["chair-a"].engine.advance = _crash  # type: ignore[method-assign, assignment]
        await eventually(lambda: task.state == "backoff", 10, "the crash")

        def written() -> bool:
            row = daemon.outbox.get_state("daemon") or {}
            return any(t.get("state") == "backoff" for t in row.get("tasks", []))

        await eventually(written, 10, "the daemon's status written with the crash")
        status = await asyncio.to_thread(_status, tmp_path / "store.sqlite")
    a, b = status.split("chair chair-a")[1].split("chair chair-b")
    assert "CHAIR TASK NOT RUNNING (restarting after a crash" in a, status
    assert "RuntimeError: engine bug on this state" in a, status
    assert "NOT RUNNING" not in b, status
