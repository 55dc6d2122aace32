"""A stop whose last write of the held batches hangs (monitord/storestop.py).

Found by an audit of the bounded stop: with the disk full, the guard holds the chairs'
batches in memory, and the stop's `close_report` writes them one last time, on the main
thread. A disk that answered the full disk's ENOSPC and then hung in that write's sync
held the stop for ever, silent until systemd's SIGKILL, and nothing said what was lost.
Now that write runs in a thread the stop gives up within its budget, saying at CRITICAL
what was in it (stored only if the disk ever finishes it) and what state the store is in.

A real full file system (a tmpfs, filled with a file: the tests run as root), the real
writer thread, checkpointer, guard and stop; the hung sync is the COMMIT held at a gate
(tests/faults/writerkit.py `SlowCommits`, as an SD card's fsync holds it: in-process, a
preloaded shim could not hang one COMMIT of this process alone). The gate gives up after
10 s by itself, which is how the code before the fix returned at all."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from monitord import storestop
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
from tests.faults.writerkit import SlowCommits
from tests.kit import eventually


async def test_a_stop_whose_last_write_of_the_held_batches_hangs_says_so_and_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(storestop, "STOP_WAIT_S", 0.5)  # the budget; a join waits 1 s at least
    console: list[str] = []
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        lock = lock_store(path)
        ob = Outbox(path, StorageConfig(path=path))
        writer, ck = StoreWriter(), Checkpointer(path, every_s=3600)
        ob.use_writer(writer.submit, ck.kick)
        guard = StoreGuard(ob, TechAlarms(console=console.append), writer, 0.0, checkpointer=ck)
        stop = StoreStop(guard, writer, ck, lock)
        filler = fill(disk)
        n = 0
        while not guard.holding:  # until the WAL's reusable space is used up too
            n += 1
            rows = [reading(100 + n * 50 + i) for i in range(50)]
            guard.write(StoreBatch("chair-1", runs=[(rows, "s-1")], events=[alert(n)]))
            await eventually(lambda: guard.in_write == 0)
            assert n < 2000, "the full disk never refused a write"
        held = sum(len(b.events) for b in guard.held)
        filler.unlink()  # space again, but the disk hangs in the next sync
        slow = SlowCommits(ob._db, rows_only=True)
        ob._db = slow  # type: ignore[assignment]  # a test double
        slow.hold.set()
        try:
            with caplog.at_level(logging.CRITICAL, "monitord.store"):
                stop.close()
            # It returned while the write still hangs (before: only once the gate gave up).
            assert slow.inside.is_set()
        finally:
            slow.gate.set()  # the disk answers
            for t in threading.enumerate():
                if t.name == "store-close":
                    t.join(10)
            ck.stop(10)
        said = [r.getMessage() for r in caplog.records if r.name == "monitord.store"]
        assert len(said) == 1, said
        line = said[0]
        assert "did not finish writing what it held" in line, line
        assert f"{held} alert event(s)" in line and "held in memory are LOST" in line, line
        assert "are in the write the disk has not finished" in line, line
        assert "redone at the next open" in line, line
        assert f"!!! {line}" in console, console
        # The abandoned write finished once the disk answered: stored whole, as said.
        slow._db.close()
        ob.close_reads()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = db.execute("SELECT count(*) FROM records WHERE type = 'alert'").fetchone()
        assert held >= 1 and stored == (n,), (held, stored, n)
        lock.release()
