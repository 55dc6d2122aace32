"""Helpers of the store-writer tests (issue 20): a COMMIT held at a gate the way an SD
card's fsync holds it (`SlowCommits`), a live reading, and a daemon of two chairs running
in-process (`two_chairs`, `running`)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from tests.kit import eventually


class SlowCommits:
    """Delegates to a sqlite3 connection; a COMMIT waits for `gate` while `hold` is set.
    `rows_only`: only a COMMIT whose transaction added records (readings, events) waits;
    one of status or delivery marks alone, which a timer may start at any moment, passes.
    `each`: the gate closes behind each COMMIT it let through, so the next one waits for a
    `gate.set()` of its own (the test queues more while that one is in the thread)."""

    def __init__(self, db: Any, *, rows_only: bool = False, each: bool = False) -> None:
        self._db = db
        self.rows_only = rows_only
        self.each = each
        self.hold = threading.Event()
        self.gate = threading.Event()
        self.inside = threading.Event()  # a COMMIT is waiting at the gate now
        self.threads: set[str] = set()
        self.held_commits = 0
        self._rows = False  # the open transaction added records

    def executemany(self, sql: str, *args: Any) -> Any:
        if sql.startswith("INSERT INTO records"):
            self._rows = True
        return self._db.executemany(sql, *args)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("INSERT INTO records"):
            self._rows = True
        if sql in ("COMMIT", "ROLLBACK"):
            rows, self._rows = self._rows, False
            if sql == "ROLLBACK" or (self.rows_only and not rows):
                return self._db.execute(sql, *args)
        if sql == "COMMIT" and self.hold.is_set():
            self.threads.add(threading.current_thread().name)
            self.held_commits += 1
            self.inside.set()
            try:
                self.gate.wait(10)
            finally:
                if self.each:
                    self.gate.clear()
                self.inside.clear()
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def two_chairs(
    tmp: Path, site: str, *, interval_s: float = 0.05, alerts: str = "", mqtt: str = ""
) -> str:
    """The config of a daemon with chairs chair-a and chair-b, no devices, InfluxDB off,
    its store in `tmp`; `alerts`: lines of an `[alerts]` table; `mqtt`: lines of the
    `[mqtt]` table (MQTT off without)."""
    return (
        f'[site]\nid = "{site}"\n[mqtt]\n{mqtt or "enabled = false"}\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp / "store.sqlite"}"\ncommit_interval_s = {interval_s}\n'
        + (f"[alerts]\n{alerts}" if alerts else "")
        + '[[chairs]]\nid = "chair-a"\n[[chairs]]\nid = "chair-b"\n'
    )


def reading(chair: str, kind: Kind, values: dict[str, float | None]) -> Reading:
    now = datetime.now(UTC)
    return Reading(chair, kind.value, kind, values, now, now)


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    """The daemon running (both chairs' tasks started) for the block, stopped after it."""
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.supervisor is not None and {"chair:chair-a",
                         "chair:chair-b"} <= daemon.supervisor.tasks.keys())  # fmt: skip
        yield
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
