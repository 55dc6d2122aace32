"""Helpers of the store-writer tests (issue 20): a COMMIT held at a gate the way an SD
card's fsync holds it (`SlowCommits`), a live reading, and a daemon running in-process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from tests.kit import eventually


class SlowCommits:
    """Delegates to a sqlite3 connection; a COMMIT waits for `gate` while `hold` is set."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.hold = threading.Event()
        self.gate = threading.Event()
        self.inside = threading.Event()  # a COMMIT is waiting at the gate now
        self.threads: set[str] = set()
        self.held_commits = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.hold.is_set():
            self.threads.add(threading.current_thread().name)
            self.held_commits += 1
            self.inside.set()
            try:
                self.gate.wait(10)
            finally:
                self.inside.clear()
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


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
