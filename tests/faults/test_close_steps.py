"""The store's close after a stop stored what a full disk held: each step runs whatever an
earlier one raised (monitord/storestop.py).

Before: when the checkpointer's end (or the store's last checkpoint) raised after the
close's flush had stored the held batches, the stop raised at once: their `done` never
ran (the hub's listeners were not told of alarms now stored: the console line, the
sinks' wake-ups, a command's answer), the store's reads stayed open and its lock was not
released; and one `done` raising skipped every later one and the release the same way.
Only a bug gets there (so the bug is injected: a checkpointer and a listener that raise);
the process exiting would still drop the lock, but a caller in the same process (the
tests; anything embedding the daemon) kept it. Now each step runs, and the bug is said
once at ERROR with its traceback.

A real full file system (a tmpfs, filled with a file, then freed before the stop), the
real writer thread, checkpointer, guard and stop.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.storeopen import lock_store
from monitord.storestop import StoreStop
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, reading
from tests.faults.storekit import fill, tmpfs
from tests.kit import eventually


class _Bug(Exception):
    pass


async def _stop_with_held(
    tmp_path: Path, *, checkpointer_bug: bool, done_bug: bool
) -> tuple[list[str], list[str], StoreStop, Path]:
    """Hold alert batches on a full disk, free it, then close: (held, told, stop, store)."""
    told: list[str] = []
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        lock = lock_store(path)
        ob = Outbox(path, StorageConfig(path=path))
        writer, ck = StoreWriter(), Checkpointer(path, every_s=3600)
        ob.use_writer(writer.submit, ck.kick)
        guard = StoreGuard(ob, TechAlarms(console=None), writer, 0.0, checkpointer=ck)
        stop = StoreStop(guard, writer, ck, lock)
        filler = fill(disk)
        n = 0
        try:
            while not guard.holding or len(guard.held) < 3:  # then two more, held behind
                n += 1
                rows = [reading(100 + n * 50 + i) for i in range(50)]
                b = StoreBatch("chair-1", runs=[(rows, "s-1")], events=[alert(n)])
                b.done = lambda i=f"a-{n:05d}": told.append(i)
                guard.write(b)
                await eventually(lambda: guard.in_write == 0)
                assert n < 2000, "the full disk never refused a write"
        finally:
            filler.unlink()  # freed: the stop's flush stores what is held
        held = [str(b.events[0].alert_id) for b in guard.held]
        assert held
        if done_bug:
            first = guard.held[0]
            told_first = first.done
            assert told_first is not None

            def raising() -> None:
                told_first()
                raise _Bug("a listener's bug")

            first.done = raising
        real_stop = ck.stop
        if checkpointer_bug:

            def stop_bug(timeout: float | None = None) -> bool:
                raise _Bug("the checkpointer's bug")

            ck.stop = stop_bug  # type: ignore[method-assign]  # the injected bug
        try:
            stop.close()
        except _Bug:
            pass  # before: raised, the steps after it not run
        real_stop(5)
        ob.close()
    return held, told, stop, path


@pytest.mark.parametrize(
    ("checkpointer_bug", "done_bug"), [(True, False), (False, True)], ids=["checkpointer", "done"]
)
async def test_the_close_runs_every_step_after_a_bug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, checkpointer_bug: bool, done_bug: bool
) -> None:
    caplog.set_level(logging.ERROR, "monitord.store")
    held, told, stop, _ = await _stop_with_held(
        tmp_path, checkpointer_bug=checkpointer_bug, done_bug=done_bug
    )
    # Every batch the stop stored is told, in order (before: none, or none after the bug).
    assert told[-len(held) :] == held, (held, told)
    assert stop.lock.fd is None  # the store's lock released
    assert stop.bug is not None  # `monitord run` exits 70 (test_close_bug_exit.py)
    bugs = [r for r in caplog.records if "bug" in r.getMessage()]
    assert len(bugs) == 1 and bugs[0].exc_info is not None, caplog.text
