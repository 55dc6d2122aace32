"""WAL checkpoints off the writer thread (issue 20).

SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: two
fsyncs (WAL, then the main file) and the copying, on an SD card ~50 ms, and that COMMIT
may be an alert's, which is published only after it returns. So the daemon turns the
automatic checkpoint off on the writer's connection (`PRAGMA wal_autocheckpoint = 0`)
and this thread checkpoints through a connection of its own, PASSIVE (it never blocks the
writer: WAL readers and a checkpoint run beside a write transaction), every `every_s`
seconds or sooner when the writer says much was written (`kick`). A checkpoint also
fsyncs the WAL first, so it is a sync point for commits made without one
(docs/reliability.md). The WAL file is reused from its start by the next write after a
complete checkpoint; the retention job's TRUNCATE and the close shrink it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("monitord.store")

# Each checkpoint rewrites every page changed since the last: rarer is fewer bytes; the
# WAL grows meanwhile (~1 MB per chair at 1 Hz over 2 min at most).
CHECKPOINT_EVERY_S = 120.0


class Checkpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.done = 0  # checkpoints run (status, tests)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Checkpoint soon (the writer committed much since the last one)."""
        self._kick.set()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=5, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            while not self._stop.is_set():
                self._kick.wait(self.every_s)
                self._kick.clear()
                if self._stop.is_set():
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.done += 1
                except sqlite3.Error as e:  # a full disk: the next one tries again
                    log.debug("store checkpoint failed: %s", e)
        finally:
            db.close()
