"""The WAL kept small and checkpoints off the writer thread (issue 20, target 1;
monitord/store/checkpoint.py): a WAL file grown
past `WAL_RESET_BYTES` is checkpointed early and then reused, so a busy daemon's commits
stop extending it (each extension makes ext4's fdatasync commit its journal as well).
A light load is checkpointed on the timer only, as before (the SD card's writes)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair
from monitord.store import checkpoint
from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import reading
from tests.kit import eventually
from tests.test_lifecycle import sim_config

LIMIT = 64 << 10
ROOT = Path(__file__).resolve().parents[1]


def wal_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA page_size = 1024")  # as the daemon's stores
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")  # as the daemon's writer connection
    db.execute("CREATE TABLE t (b BLOB)")
    return db


def wait_checkpoints(ck: Checkpointer, n: int, within_s: float) -> None:
    """Until the checkpointer thread has run `n` checkpoints, or `within_s` passed."""
    deadline = time.monotonic() + within_s
    while ck.done < n and time.monotonic() < deadline:
        time.sleep(0.05)


def commit_blob(db: sqlite3.Connection, n_bytes: int) -> None:
    db.execute("BEGIN")
    db.execute("INSERT INTO t VALUES (?)", (b"x" * n_bytes,))
    db.execute("COMMIT")


def test_a_growing_wal_is_checkpointed_and_then_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "WAL_RESET_BYTES", LIMIT)
    path = tmp_path / "s.sqlite"
    db = wal_db(path)
    ck = Checkpointer(path, every_s=3600)  # the timer never fires in this test
    wal = Path(f"{path}-wal")
    try:
        seen = 0
        for _ in range(40 * LIMIT // 4096):  # 2.5 MB through the WAL, 4 KB a commit
            commit_blob(db, 4096)
            before = ck.done
            ck.committed(0)
            # The checkpoint thread runs between commits, as in a daemon (whose commits
            # come at most every few ms). A kick (the WAL grew past the limit: the
            # checkpointer's own rule) is waited for rather than given a fixed 1 ms: a
            # thread starved by a loaded machine let the WAL grow 10x once.
            size = wal.stat().st_size
            if size > seen and size >= LIMIT:
                wait_checkpoints(ck, before + 1, within_s=5)
                assert ck.done > before, f"a WAL of {size} bytes started no checkpoint"
            seen = size
        wait_checkpoints(ck, 5, within_s=10)
        assert ck.done >= 5  # started by the WAL's size
        # Reused from its start after each checkpoint: far smaller than what went through.
        assert wal.stat().st_size < 8 * LIMIT, wal.stat().st_size
    finally:
        ck.stop()
        db.close()


def test_a_small_wal_waits_for_the_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "WAL_RESET_BYTES", LIMIT)
    path = tmp_path / "s.sqlite"
    db = wal_db(path)
    ck = Checkpointer(path, every_s=3600)
    try:
        for _ in range(10):  # 2-3 frames of 1 KiB a commit: ~30 KB of WAL, under the limit
            commit_blob(db, 500)
            ck.committed(10)
        ck.stop()  # joins the thread: a kick would have run a checkpoint by now
        assert ck.done == 0
    finally:
        db.close()


def test_many_readings_still_kick(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = wal_db(path)
    ck = Checkpointer(path, every_s=3600)
    try:
        commit_blob(db, 100)
        ck.committed(checkpoint.CHECKPOINT_READINGS)
        wait_checkpoints(ck, 1, within_s=5)
        assert ck.done >= 1
    finally:
        ck.stop()
        db.close()


async def test_the_daemons_writer_reports_its_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16 KiB: a few hundred readings of a simulated chair pass it within seconds; the
    # 120-s timer and 5,000 readings do not come into it.
    monkeypatch.setattr(checkpoint, "WAL_RESET_BYTES", 16 << 10)
    daemon = Daemon(loads_config(sim_config(tmp_path, speed=50)), simulated=start_simulated_chair)
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(
            lambda: daemon.checkpointer is not None and daemon.checkpointer.done >= 1,
            within_s=30,
            what="a checkpoint started by the WAL's size",
        )
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 10)


def guarded(path: Path) -> tuple[Outbox, StoreWriter, Checkpointer, StoreGuard]:
    """An outbox with its writer thread, checkpointer and guard, as the daemon builds them
    (the checkpointer's timer never fires in these tests)."""
    ob = Outbox(path, StorageConfig(path=path))
    writer = StoreWriter()
    ck = Checkpointer(path, every_s=3600)
    ob.use_writer(writer.submit, ck.kick)
    return ob, writer, ck, StoreGuard(ob, TechAlarms(), writer, commit_interval_s=0)


def size_of(path: Path) -> int:
    return path.stat().st_size


def count_pages(db: sqlite3.Connection) -> tuple[int, int]:
    """(pages, free pages) of the database as `db` sees it."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    return pages, db.execute("PRAGMA freelist_count").fetchone()[0]


async def store_readings(guard: StoreGuard, n: int, per_batch: int = 500) -> None:
    for i in range(0, n, per_batch):
        guard.write(StoreBatch("chair-1", runs=[([reading(j) for j in range(i, i + per_batch)],
                                                 "s-1")]))  # fmt: skip
        await guard.drain()


async def test_a_prune_asks_the_checkpointer_instead_of_checkpointing_on_the_writer(
    tmp_path: Path,
) -> None:
    """A prune that vacuumed used to run `wal_checkpoint(TRUNCATE)` on the writer thread:
    every alarm queued behind it waited for the copying and two fsyncs (tens of ms on an
    SD card). Now the writer's connection runs no checkpoint; the checkpointer's thread
    does, and the file still shrinks to what it holds."""
    path = tmp_path / "outbox.sqlite"
    ob, writer, ck, guard = guarded(path)
    sql: list[str] = []
    try:
        await store_readings(guard, 1000)
        # A large state row rewritten small: its overflow pages go to the freelist, so
        # the prune vacuums (as the engine snapshots' rewrites do in a daemon).
        guard.write(StoreBatch("chair-1", state={"big": "x" * 200_000}))
        await guard.drain()
        guard.write(StoreBatch("chair-1", state={"big": "y"}))
        await guard.drain()
        pages_before, free_before = await writer.call(lambda: count_pages(ob._db))
        assert free_before > 0.1 * pages_before  # enough free pages to give back
        await writer.call(lambda: ob._db.set_trace_callback(sql.append))
        assert ck.done == 0
        await guard.prune_async()
        await writer.call(lambda: ob._db.set_trace_callback(None))
        assert any("incremental_vacuum" in s for s in sql), sql  # the prune did vacuum
        assert not [s for s in sql if "wal_checkpoint" in s.lower()]  # not on the writer
        await asyncio.to_thread(wait_checkpoints, ck, 1, 5.0)
        assert ck.done >= 1  # asked for, in the checkpointer's thread
        with sqlite3.connect(path) as db:
            pages, free = count_pages(db)
        # Every free page given back (`incremental_vacuum` had freed one a prune), and
        # the checkpoint copied the smaller size back to the file.
        # (A pointer-map page may go with them.)
        assert free == 0 and pages_before - free_before - 2 <= pages <= pages_before - free_before
        assert path.stat().st_size == pages * 1024, (path.stat().st_size, pages)
    finally:
        ck.stop()
        writer.stop()
        ob.close()


async def test_a_wal_grown_large_is_cut_back_when_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No prune truncates the WAL any more, so a WAL that grew large (a backlog while a
    reader held the checkpoint off) would keep its size on the SD card for good; SQLite
    cuts it back to `WAL_RESET_BYTES` when it is next reused (`journal_size_limit`)."""
    monkeypatch.setattr(checkpoint, "WAL_RESET_BYTES", LIMIT)
    path = tmp_path / "outbox.sqlite"
    ob, writer, ck, guard = guarded(path)
    wal = Path(f"{path}-wal")
    try:
        await store_readings(guard, 3000)  # no kick: the guard has no checkpointer
        grown = size_of(wal)
        assert grown > 8 * LIMIT, grown
        ck.kick()
        await asyncio.to_thread(wait_checkpoints, ck, 1, 5.0)
        assert ck.done == 1
        await store_readings(guard, 10, per_batch=10)  # the next commit reuses the WAL
        assert size_of(wal) <= LIMIT + 16 * 1024, (grown, size_of(wal))
    finally:
        ck.stop()
        writer.stop()
        ob.close()


LEFT_BEHIND = """
import os, sys
from pathlib import Path
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import reading
path = Path(sys.argv[1])
ob = Outbox(path, StorageConfig(path=path))
ob._db.execute("PRAGMA wal_autocheckpoint = 0")  # as the daemon's writer connection
for i in range(0, 3000, 500):
    ob.add_readings([reading(j) for j in range(i, i + 500)], {})
    ob.commit()
os._exit(0)  # the close (its TRUNCATE checkpoint) never runs, as after a hung stop
"""


async def test_a_wal_left_large_by_a_stop_without_its_checkpoint_is_cut_back_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop whose checkpointer or final checkpoint failed (a hung disk: storestop.py
    gives it up) leaves the WAL as large as it grew, the close's TRUNCATE skipped. It does
    not grow from run to run: the next run's first commit sees it past `WAL_RESET_BYTES`
    and kicks a checkpoint, and the write after that reuses the WAL, cut back to the
    limit (`journal_size_limit`). A real process ends without closing the store."""
    monkeypatch.setattr(checkpoint, "WAL_RESET_BYTES", LIMIT)
    path = tmp_path / "outbox.sqlite"
    argv = [sys.executable, "-c", LEFT_BEHIND, str(path)]
    await asyncio.to_thread(subprocess.run, argv, check=True, cwd=ROOT)
    wal = Path(f"{path}-wal")
    left = size_of(wal)
    assert left > 8 * LIMIT, left
    ob = Outbox(path, StorageConfig(path=path))
    writer = StoreWriter()
    ck = Checkpointer(path, every_s=3600)  # its timer never fires here: only the kick
    ob.use_writer(writer.submit, ck.kick)
    guard = StoreGuard(ob, TechAlarms(), writer, commit_interval_s=0, checkpointer=ck)
    try:
        await store_readings(guard, 10, per_batch=10)  # the next run's first commit
        await asyncio.to_thread(wait_checkpoints, ck, 1, 10.0)
        assert ck.done >= 1, "the large WAL kicked no checkpoint"
        await store_readings(guard, 10, per_batch=10)  # reuses the WAL: cut back
        assert size_of(wal) <= LIMIT + 16 * 1024, (left, size_of(wal))
    finally:
        ck.stop()
        writer.stop()
        ob.close()
