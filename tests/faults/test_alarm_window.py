"""Issue 20 (`inf`): the alarm's window (monitord/alarmwindow.py) and the store guard that
opens and closes it (`StoreGuard.window`, `_kick`/`_committed`).

- A batch with an alert event is in flight from the moment `write` hands it to the writer
  thread until the commit's callback has run its `done`: `done` sees the window open, a
  `call_soon` made from `done` sees it closed. A group commit of readings alone never
  opens it.
- `step_aside()`: one loop turn when nothing is in flight; while an alarm is in flight
  (its COMMIT held at a gate in the real writer thread) it waits, and returns once the
  commit's callback closed the window; a window nobody closes ends the wait after
  `max_wait_s`.
- A commit the disk refuses (a full tmpfs) still closes the window: bulk work is not
  held up by an alarm that is now held in memory.

Real writer thread, real SQLite file; no timing assertion beyond "still waiting now".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from monitord.alarmwindow import AlarmWindow
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, reading
from tests.faults.storekit import fill, tmpfs
from tests.faults.writerkit import SlowCommits
from tests.kit import eventually


def guarded(path: Path) -> tuple[Outbox, StoreWriter, StoreGuard]:
    """An outbox with its writer thread and guard, as the daemon builds them."""
    ob = Outbox(path, StorageConfig(path=path))
    writer = StoreWriter()
    ob.use_writer(writer.submit)
    return ob, writer, StoreGuard(ob, TechAlarms(), writer, commit_interval_s=0.05)


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[StoreGuard]:
    ob, writer, g = guarded(tmp_path / "outbox.sqlite")
    yield g
    writer.stop()
    ob.close()


async def test_alarm_in_flight_from_write_until_its_done_ran(guard: StoreGuard) -> None:
    seen: list[tuple[str, bool]] = []
    loop = asyncio.get_running_loop()

    def done() -> None:
        seen.append(("done", guard.window.in_flight))
        loop.call_soon(lambda: seen.append(("after", guard.window.in_flight)))

    assert not guard.window.in_flight
    batch = StoreBatch("chair-1", runs=[([reading(0)], "s-1")], events=[alert(0)], done=done)
    assert guard.write(batch)
    assert guard.window.in_flight  # handed to the writer thread: in flight at once
    await eventually(lambda: len(seen) == 2, what="the batch's done and the turn after it")
    assert seen == [("done", True), ("after", False)]
    assert guard.outbox.count("alert") == 1


async def test_readings_group_commit_does_not_open_the_window(guard: StoreGuard) -> None:
    opened: list[int] = []
    real_open = guard.window.open

    def counted_open() -> None:
        opened.append(1)
        real_open()

    guard.window.open = counted_open  # type: ignore[method-assign]  # a spy on the real method
    seen: list[bool] = []
    for i in range(3):
        rs = [reading(10 * i + j) for j in range(10)]
        guard.write(StoreBatch("chair-1", runs=[(rs, "s-1")],
                               done=lambda: seen.append(guard.window.in_flight)))  # fmt: skip
        assert not guard.window.in_flight
    await eventually(lambda: len(seen) == 3, what="the readings' group commit")
    assert seen == [False] * 3 and not opened
    assert guard.outbox.count("reading") == 30
    # The same guard opens it for an alarm (the spy works).
    guard.write(StoreBatch("chair-1", events=[alert(1)], done=lambda: seen.append(True)))
    assert opened == [1]
    await eventually(lambda: not guard.window.in_flight)


async def test_step_aside_returns_after_one_turn_when_nothing_is_in_flight() -> None:
    w = AlarmWindow(max_wait_s=30)
    task = asyncio.create_task(w.step_aside())
    for _ in range(3):
        await asyncio.sleep(0)
    assert task.done() and w.waits == 0


async def test_step_aside_waits_for_every_alarm_in_flight() -> None:
    w = AlarmWindow(max_wait_s=30)
    w.open()
    w.open()  # two chairs' alarms in flight
    task = asyncio.create_task(w.step_aside())
    await asyncio.sleep(0.2)
    assert not task.done() and w.waits == 1
    w.close()
    await asyncio.sleep(0.2)
    assert not task.done()  # one alarm is still in flight
    w.close()
    await asyncio.wait_for(task, 10)
    assert not w.in_flight


async def test_step_aside_ends_after_max_wait_if_never_closed() -> None:
    w = AlarmWindow(max_wait_s=0.05)
    w.open()
    await asyncio.wait_for(w.step_aside(), 10)  # it returned
    await asyncio.wait_for(w.step_aside(), 10)
    assert w.waits == 2 and w.in_flight  # the window itself is still open


async def test_step_aside_waits_while_the_alarm_commit_is_in_the_writer(tmp_path: Path) -> None:
    ob, writer, guard = guarded(tmp_path / "outbox.sqlite")
    slow = SlowCommits(ob._db)
    ob._db = slow  # type: ignore[assignment]  # a test double
    guard.window.max_wait_s = 30
    published: list[int] = []
    try:
        slow.hold.set()
        guard.write(StoreBatch("chair-1", events=[alert(0)], done=lambda: published.append(0)))
        await asyncio.to_thread(slow.inside.wait, 10)  # the COMMIT waits at the gate
        task = asyncio.create_task(guard.window.step_aside())
        await asyncio.sleep(0.2)
        assert not task.done() and guard.window.waits == 1 and not published
        slow.hold.clear()
        slow.gate.set()
        await asyncio.wait_for(task, 10)
        assert published == [0]  # it returned once the alarm was published
    finally:
        slow.gate.set()
        writer.stop()
        ob.close()


async def test_a_commit_the_disk_refuses_still_closes_the_window(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        ob, writer, guard = guarded(disk / "outbox.sqlite")
        held: list[int] = []
        try:
            guard.write(StoreBatch("chair-1", events=[alert(0)]))
            await eventually(lambda: not guard.window.in_flight)
            filler = fill(disk)
            n = 0
            while not guard.failures:
                n += 1
                rs = [reading(100 + n * 50 + i) for i in range(50)]
                batch = StoreBatch("chair-1", runs=[(rs, "s-1")], events=[alert(n)],
                                   held=partial(held.append, n))  # fmt: skip
                assert guard.write(batch)  # queued for the writer
                assert guard.window.in_flight  # an alarm: in flight
                await eventually(lambda: not guard._busy, what="the commit came back")
                assert n < 2000, "the full disk never refused a write"
            assert held == [n]  # the refused alarm is held in memory (shown live)
            await eventually(lambda: not guard.window.in_flight,
                             what="the window closed after the failed commit")  # fmt: skip
            filler.unlink()
        finally:
            writer.stop()
            ob.close()
