"""A 0.1.0 store (schema v3, written by the 0.1.0 daemon itself) that an upgraded daemon
cannot migrate for a reason that is not the disk's space. Each case is a real `monitord
run` with a simulated oximeter chair; monitoring starts in every one.

- Malformed inside a step: an index entry naming a row that is gone passes `PRAGMA
  quick_check` (it does not compare an index with its table) and SQLite says "database
  disk image is malformed" in the v3 -> v4 step. Before: read as a failed step, the store
  kept and every start ran from memory for good, the alarm calling it a bug. Now a bad
  store as any other (tests/faults/test_bad_store.py): moved aside intact, a fresh one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from monitord.outbox import SCHEMA_VERSION
from tests.faults.test_bad_store import Run, config, moved_aside
from tests.faults.test_migration_no_room import FIXTURE
from tests.kit import eventually


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
