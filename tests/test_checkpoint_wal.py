"""The WAL kept small (issue 20, target 1; monitord/store/checkpoint.py): a WAL file grown
past `WAL_RESET_BYTES` is checkpointed early and then reused, so a busy daemon's commits
stop extending it (each extension makes ext4's fdatasync commit its journal as well).
A light load is checkpointed on the timer only, as before (the SD card's writes)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.simulators.chair import start_simulated_chair
from monitord.store import checkpoint
from monitord.store.checkpoint import Checkpointer
from tests.kit import eventually
from tests.test_lifecycle import sim_config

LIMIT = 64 << 10


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
        for _ in range(40 * LIMIT // 4096):  # 2.5 MB through the WAL, 4 KB a commit
            commit_blob(db, 4096)
            ck.committed(0)
            time.sleep(0.001)  # the checkpoint thread runs between commits, as in a daemon
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
