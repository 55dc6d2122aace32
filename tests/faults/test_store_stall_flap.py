"""`store.stalled` must not flap on a disk whose every write hangs just over the limit.

It cleared as soon as the hung write returned, and the next write (the held batches,
retried at once) hung again: raised, cleared, raised... every `stall_alarm_after_s` and a
bit, each time a CRITICAL line, `!!!` on the console and a "cleared" line, while the disk
was as bad as ever (clinical-rules.md: a technical alarm is kept up until the condition
it reports is over). Now it clears only once writes have gone normally for
CLEAR_AFTER x `stall_alarm_after_s` after the hung one returned (monitord/storestall.py).

A real writer thread whose jobs wait on an event, as a commit waits for a hung fsync; the
watch is asked at given monotonic times (its own task would sleep through them)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.writer import StoreWriter
from monitord.storeguard import StoreGuard
from monitord.storestall import KEY, StallWatch
from monitord.techalarm import TechAlarms

AFTER_S = 1.0


def _hung_write(writer: StoreWriter) -> tuple[threading.Event, float]:
    """A job that hangs until the returned event is set, and its start (monotonic)."""
    inside, disk = threading.Event(), threading.Event()

    def job() -> None:
        inside.set()
        disk.wait(30)

    writer.submit(job)
    assert inside.wait(10)
    assert writer.busy_since is not None
    return disk, writer.busy_since


def _returned(writer: StoreWriter) -> None:
    deadline = time.monotonic() + 10
    while writer.busy_since is not None:
        assert time.monotonic() < deadline, "the released job never returned"
        time.sleep(0.01)


def test_store_stalled_stays_up_while_each_write_hangs_just_over_the_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    said: list[str] = []
    alarms = TechAlarms(console=said.append)
    ob = Outbox(path, StorageConfig(path=path))
    writer = StoreWriter("test-writer")
    watch = StallWatch(StoreGuard(ob, alarms), writer, AFTER_S)
    try:
        disk, since = _hung_write(writer)
        watch.look(since + 1.1 * AFTER_S)
        assert KEY in alarms.active
        for _ in range(3):  # each write hangs just over the limit, then returns
            disk.set()
            _returned(writer)
            back = time.monotonic()
            watch.look(back)
            assert KEY in alarms.active, said  # the disk is no better: not cleared
            disk, since = _hung_write(writer)
            watch.look(since + 1.1 * AFTER_S)
            assert KEY in alarms.active
        disk.set()
        _returned(writer)
        back = time.monotonic()
        watch.look(back)
        watch.look(back + 0.9 * 3 * AFTER_S)
        assert KEY in alarms.active, said  # writes normal, but not for long enough yet
        watch.look(back + 1.1 * 3 * AFTER_S)
        assert KEY not in alarms.active, said  # they went normally for long enough
    finally:
        writer.stop(10)
        ob.close()
    raised = [s for s in said if s.startswith(f"!!! TECHNICAL ALARM {KEY}")]
    cleared = [s for s in said if f"{KEY} cleared" in s]
    assert len(raised) == 1 and len(cleared) == 1, said
