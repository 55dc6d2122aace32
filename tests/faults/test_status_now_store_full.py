"""`monitord status` written at once (a link's change, an alarm's set: `put_live(now=)`)
and a disk that refuses the chairs' batches: the store's technical alarm must hold.

A link change that comes while a commit of readings is failing in the writer thread asks
for a small commit of status alone (storeguard.py `_kick_live`) on the next loop turn. When
that turn came after the failed commit's callback, the status-only commit ran although
the store was failing; a disk that still takes a small NORMAL commit (space left in the
WAL) but not the batches took it, and its success counted as the store's recovery:
`store.unwritable` cleared ("the store takes writes again: 0 held readings and 0 alert
events stored") with every batch still held in memory, and was raised again by the next
retry. A nurse saw the store alarm go and come; between the two, commands were applied
that the store could not keep. Now a status-only commit is not started while the store
fails: status waits for the retry that stores the held batches, as before.

The disk's refusal is a connection that raises SQLite's "database or disk is full" at
the COMMIT of a transaction that adds records (readings), and takes one of status alone:
a real full disk does that while its WAL has room for a small transaction only.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually


class RefusesRecords:
    """Delegates to a sqlite3 connection; while `refuse` is set, the COMMIT of a
    transaction that added records waits for `gate`, then fails as a full disk does (the
    transaction rolled back, SQLITE_FULL)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.refuse = threading.Event()
        self.gate = threading.Event()
        self.inside = threading.Event()
        self.refused = 0
        self._rows = False

    def executemany(self, sql: str, *args: Any) -> Any:
        self._rows |= sql.startswith("INSERT INTO records")
        return self._db.executemany(sql, *args)

    def execute(self, sql: str, *args: Any) -> Any:
        self._rows |= sql.startswith("INSERT INTO records")
        if sql in ("COMMIT", "ROLLBACK"):
            rows, self._rows = self._rows, False
            if sql == "COMMIT" and rows and self.refuse.is_set():
                self.inside.set()
                self.gate.wait(10)
                self.refused += 1
                self._db.execute("ROLLBACK")  # what SQLite does on a full disk's COMMIT
                raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_status_now_does_not_clear_the_store_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitord.alarm")
    daemon = Daemon(loads_config(two_chairs(tmp_path, "status-now-full", interval_s=0.0)))
    db = RefusesRecords(daemon.outbox._db)
    daemon.outbox._db = db  # type: ignore[assignment]  # a test double
    store, writer = daemon.store, daemon.writer
    assert writer is not None
    async with running(daemon):
        try:
            await eventually(lambda: not store._busy and not store._live, what="store idle")
            db.refuse.set()
            daemon.chairs["chair-a"].submit(reading("chair-a", Kind.HR, {"hr_bpm": 70.0}))
            await asyncio.to_thread(db.inside.wait, 10)  # its commit is in the thread
            db.gate.set()  # ... and fails there
            # The loop has not run the failed commit's callback yet (nothing awaited since
            # the thread finished it): the link changes in that very turn.
            writer.submit(lambda: None).result(10)
            daemon._link_changed("influx")
            await eventually(lambda: "store.unwritable" in daemon.alarms.active, 10,
                             "the store alarm")  # fmt: skip
            await eventually(lambda: db.refused >= 3, 20, "the guard's retries")
            assert store.holding and "store.unwritable" in daemon.alarms.active
            cleared = [r.getMessage() for r in caplog.records if "cleared" in r.getMessage()]
            # Before: "technical alarm store.unwritable cleared: the store takes writes
            # again: 0 held readings and 0 alert events stored after 1 failed attempts".
            assert cleared == []
        finally:
            db.refuse.clear()
            db.gate.set()
        await eventually(lambda: not store.held, 20, "the held batch stored once the disk takes it")
    assert "store.unwritable" not in daemon.alarms.active
