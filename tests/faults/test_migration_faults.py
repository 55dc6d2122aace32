"""A 0.1.0 store (schema v3, written by the 0.1.0 daemon itself) that an upgraded daemon
cannot migrate for a reason that is not the disk's space. Each case is a real `monitord
run` with a simulated oximeter chair; monitoring starts in every one.

- Malformed inside a step: an index entry naming a row that is gone passes `PRAGMA
  quick_check` (it does not compare an index with its table) and SQLite says "database
  disk image is malformed" in the v3 -> v4 step. Before: read as a failed step, the store
  kept and every start ran from memory for good, the alarm calling it a bug. Now a bad
  store as any other (tests/faults/test_bad_store.py): moved aside intact, a fresh one.
- Held by another process (an sqlite3 shell or a copy tool in a write transaction), or not
  writable by the daemon's user (left root's): SQLite refuses access, not the file. Before:
  moved aside as "unusable", the 0.1.0 daemon's active alarm and backlog with it (the
  other process went on writing the .bad file). Now kept where it is, this run from memory
  with `store.memory` saying why and what to do, and the next start, the cause gone,
  migrates it with every record and the active alarm.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import SCHEMA_VERSION
from monitord.storeopen import open_store
from monitord.techalarm import TechAlarms
from tests.faults.storekit import monitord, remount, tmpfs
from tests.faults.test_bad_store import Run, config, moved_aside
from tests.faults.test_migration_no_room import FIXTURE, contents
from tests.kit import eventually

NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"


def stale_index_entry(path: Path) -> None:
    """0.1.0's store with one pending reading deleted behind the back of its index
    `records_influx_pending` (out of the schema while the row goes): a b-tree SQLite's
    quick_check finds sound, naming a row that is gone."""
    shutil.copy(FIXTURE, path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        index = db.execute(
            "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master "
            "WHERE name = 'records_influx_pending'"
        ).fetchone()
        db.execute("PRAGMA writable_schema = ON")
        db.execute("DELETE FROM sqlite_master WHERE name = 'records_influx_pending'")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(
            "DELETE FROM records WHERE id = "
            "(SELECT max(id) FROM records WHERE influx = 0 AND type = 'reading')"
        )
        db.execute("PRAGMA writable_schema = ON")
        db.execute("INSERT INTO sqlite_master VALUES (?, ?, ?, ?, ?)", index)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def unchanged_but_counters(now: bytes, before: bytes) -> bool:
    """Every byte the same but the header's file change counter and its copy (offsets 24
    and 92, sqlite.org/fileformat.html), which the step's rolled back transaction moves on:
    the store was opened for writing before its step failed."""

    def cut(b: bytes) -> bytes:
        return b[:24] + b[28:92] + b[96:]

    return len(now) == len(before) and cut(now) == cut(before)


async def monitors(run: Run) -> None:
    await eventually(
        lambda: run.proc.poll() is not None or run.readings_shown() >= 5, 60, "monitoring"
    )
    assert run.proc.poll() is None, run.out()


def critical(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("CRITICAL")]


async def test_a_store_malformed_inside_a_step_is_moved_aside(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    stale_index_entry(store)
    before = store.read_bytes()
    run = Run(config(tmp_path, store), tmp_path / "daemon.log")
    try:
        await monitors(run)
    finally:
        rc = run.stop()
    out = run.out()
    assert rc == 0 and "Traceback" not in out, out
    lines = critical(out)
    assert len(lines) == 1 and "store.replaced" in lines[0], out
    assert "database disk image is malformed" in lines[0], lines
    bad = moved_aside(tmp_path)
    assert len(bad) == 1, sorted(os.listdir(tmp_path))
    assert unchanged_but_counters(bad[0].read_bytes(), before)
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM records").fetchone()[0] >= 5


async def restart_migrates(tmp_path: Path, store: Path, before: tuple[int, int, int, str]) -> None:
    """The next start, the cause gone: the store migrated whole, no alarm."""
    run = Run(config(tmp_path, store), tmp_path / "daemon2.log")
    try:
        await monitors(run)
    finally:
        rc = run.stop()
    assert rc == 0 and critical(run.out()) == [], run.out()
    v, _, _, alert = contents(store)
    assert v == SCHEMA_VERSION and alert == before[3]
    assert rows(store) > rows(FIXTURE)  # 0.1.0's records, and this run's after them


def rows(path: Path) -> set[tuple[int, str, str]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return set(db.execute("SELECT id, type, body FROM records"))


async def test_a_store_held_by_another_process_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, store)
    before = contents(store)
    other = sqlite3.connect(store, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # a write transaction left open (an sqlite3 shell)
        run = Run(config(tmp_path, store), tmp_path / "daemon.log")
        try:
            await monitors(run)
            st = monitord("status", "--config", str(config(tmp_path, store)))
        finally:
            rc = run.stop()
    finally:
        other.close()
    out = run.out()
    assert rc == 0 and "Traceback" not in out, out
    lines = critical(out)
    assert len(lines) == 1 and "store.memory" in lines[0], out
    assert "held by another process (database is locked): kept as it is" in lines[0], lines
    assert "TECHNICAL ALARM store.memory" in st.stdout, st
    assert not moved_aside(tmp_path), sorted(os.listdir(tmp_path))
    assert contents(store) == before
    await restart_migrates(tmp_path, store, before)


async def test_a_store_this_user_cannot_write_is_kept(tmp_path: Path) -> None:
    """The store left root's, mode 0444 (a run as root before the service's first start)."""
    store = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, store)
    store.chmod(0o444)
    before = contents(store)
    cfg = config(tmp_path, store)
    # The daemon runs as root here, without the capabilities that let root write anyway.
    run = Run(cfg, tmp_path / "daemon.log", ("setpriv", "--bounding-set", NO_OVERRIDE))
    try:
        await monitors(run)
    finally:
        rc = run.stop()
    out = run.out()
    assert rc == 0 and "Traceback" not in out, out
    lines = critical(out)
    assert len(lines) == 1 and "store.memory" in lines[0], out
    assert "not writable by this user (attempt to write a readonly database)" in lines[0], lines
    assert not moved_aside(tmp_path), sorted(os.listdir(tmp_path))
    assert contents(store) == before

    store.chmod(0o644)
    await restart_migrates(tmp_path, store, before)


def test_a_store_on_a_file_system_gone_read_only_is_named_so(tmp_path: Path) -> None:
    """0.1.0's store with its -wal and -shm (a daemon killed) on a card that remounted
    itself read-only: SQLite opens it read-only and refuses the step's write (READONLY).
    The alarm names the read-only file system, not the file's owner (no chown fixes it)."""
    src = tmp_path / "src.sqlite"
    shutil.copy(FIXTURE, src)
    with tmpfs(tmp_path / "card", "4m") as card:
        store = card / "outbox.sqlite"
        db = sqlite3.connect(src, isolation_level=None)
        try:
            db.execute("PRAGMA wal_autocheckpoint = 0")
            db.execute("UPDATE state SET updated_ns = updated_ns")  # a frame in the -wal
            for suffix in ("", "-wal", "-shm"):
                shutil.copy(f"{src}{suffix}", f"{store}{suffix}")
        finally:
            db.close()
        remount(card, "ro")
        alarms = TechAlarms(None)
        ob = open_store(StorageConfig(path=store), alarms)
        try:
            assert ob.memory
        finally:
            ob.close()
        text = alarms.active["store.memory"]["text"]
        assert "on a read-only file system (attempt to write a readonly database)" in text, text
        assert "remount it read-write" in text and "not writable by this user" not in text
