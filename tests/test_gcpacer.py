"""The collector paced by the event loop (monitord/gcpacer.py, issue 20 target 1): it
still collects, it hands automatic collection back, and the daemon uses it."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord import gcpacer
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.simulators.chair import start_simulated_chair
from tests.kit import eventually
from tests.test_lifecycle import sim_config


@pytest.fixture
def low_threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(50, 2, 2)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@pytest.mark.parametrize(
    ("count", "threshold", "gen"),
    [
        ((699, 9, 9), (700, 10, 10), None),  # below generation 0's threshold
        ((700, 0, 0), (700, 10, 10), 0),
        ((700, 10, 9), (700, 10, 10), 1),  # the 10th generation-0 collection since
        ((700, 10, 10), (700, 10, 10), 2),
        ((900, 9, 50), (700, 10, 10), 0),  # generation 2 waits for generation 1
        ((5000, 50, 50), (0, 10, 10), None),  # threshold 0: collection disabled
    ],
)
def test_due_follows_cpythons_trigger(
    count: tuple[int, int, int], threshold: tuple[int, int, int], gen: int | None
) -> None:
    assert gcpacer.due(count, threshold) == gen


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


async def test_pacer_frees_cycles_on_its_timer(low_threshold: None) -> None:
    pacer = asyncio.create_task(gcpacer.pace(interval_s=0.01))
    try:
        await asyncio.sleep(0.02)
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
        gone = weakref.ref(Node())
        keep = [[i] for i in range(200)]  # over generation 0's threshold
        assert gone() is not None  # automatic collection is off
        await eventually(lambda: gone() is None, within_s=5, what="the pacer collected")
        del keep
    finally:
        pacer.cancel()
        await asyncio.gather(pacer, return_exceptions=True)
    assert gc.isenabled()


async def test_an_idle_pacer_looks_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each wake of an idle daemon costs CPU (footprint bench: idle 0.07 % -> 0.35 % of a
    # core at ten looks a second): a look that finds nothing due doubles the wait.
    looks: list[float] = []
    real_due = gcpacer.due

    def counting_due(count: tuple[int, int, int], threshold: tuple[int, int, int]) -> int | None:
        looks.append(asyncio.get_running_loop().time())
        return real_due(count, (1 << 30, 10, 10))  # never due

    monkeypatch.setattr(gcpacer, "due", counting_due)
    pacer = asyncio.create_task(gcpacer.pace(interval_s=0.01, max_interval_s=0.08))
    # Its start (a full collection, then the freeze) runs in its first step, which takes
    # long in a worker whose heap many tests have filled: count from after it.
    await eventually(lambda: not gc.isenabled(), 30, "the pacer started")
    await asyncio.sleep(0.6)
    pacer.cancel()
    await asyncio.gather(pacer, return_exceptions=True)
    # 0.01 + 0.02 + 0.04, then every 0.08 s: ~10 looks in 0.6 s; ~60 without the doubling
    assert 3 <= len(looks) <= 20, len(looks)


async def test_last_user_hands_automatic_collection_back() -> None:
    assert gc.isenabled()
    first = asyncio.create_task(gcpacer.pace(interval_s=0.01))
    second = asyncio.create_task(gcpacer.pace(interval_s=0.01))
    await asyncio.sleep(0.02)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert not gc.isenabled()  # the second daemon still paces it
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


async def test_daemon_paces_the_collector_while_it_runs(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(sim_config(tmp_path)), simulated=start_simulated_chair)
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: not gc.isenabled(), within_s=30, what="collector paced")
        assert daemon.supervisor is not None and not task.done()
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 10)
    assert gc.isenabled()


async def test_start_held_collection_is_handed_back_by_the_pacer() -> None:
    assert gc.isenabled()
    gcpacer.hold_until_paced()
    try:
        assert not gc.isenabled()
        pacer = asyncio.create_task(gcpacer.pace(interval_s=0.01))
        await asyncio.sleep(0.02)
        pacer.cancel()
        await asyncio.gather(pacer, return_exceptions=True)
        assert gc.isenabled(), "automatic collection held at start was not handed back"
    finally:
        gc.enable()


# `monitord run` as a process, with a gc callback counting the collections from cli.main's
# start (what ran before, this script's own imports, is not the daemon's) and a note on
# stderr when the daemon says READY=1 (its own Notifier.ready runs as before).
WATCH_START = """
import gc, sys
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(info["generation"]))
import monitord.sdnotify as sd
ready = sd.Notifier.ready
def noted(self, *a, **k):
    # One write, the newline in it: print's two let a log line from the store's writer
    # thread in between ("...: []INFO monitord.outbox: ... schema migrated", a CI run).
    sys.stderr.write(f"collections before READY: {seen}\\n"); sys.stderr.flush()
    ready(self, *a, **k)
sd.Notifier.ready = noted
sys.argv = ["monitord", "run", "--config", sys.argv[1]]
from monitord.cli import main
seen.clear()
sys.exit(main())
"""


def test_run_collects_nothing_before_ready(tmp_path: Path) -> None:
    # CPython's trigger ran ~100 collections over the objects the start builds, a full one
    # among them (20-30 ms), 45-65 ms of a 0.45-s start (monitord/gcpacer.py).
    cfg = tmp_path / "c.toml"
    cfg.write_text(sim_config(tmp_path))
    script = tmp_path / "watch_start.py"
    script.write_text(WATCH_START)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "no-systemd.sock")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        for line in proc.stderr:  # ends when the process does
            if line.startswith("collections before READY:"):
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert line.startswith("collections before READY:"), f"never READY: {line}{err[-2000:]}"
    assert line.strip() == "collections before READY: []", line.strip()
    assert proc.returncode == 0, err[-2000:]
