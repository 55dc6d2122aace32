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
complete checkpoint, and cut back to `WAL_RESET_BYTES` then if it was larger (`PRAGMA
journal_size_limit`, set by `Outbox.use_writer`); the close truncates it. A prune that
deleted or vacuumed asks for a checkpoint here (`kick`) instead of running one on the
writer thread, where every alarm queued behind it waited for it.

The writer reports each commit (`committed`), and the checkpoint comes early after
`CHECKPOINT_READINGS` readings (a backlog, an ingest burst) or once the WAL file has grown
past `WAL_RESET_BYTES`. The second keeps a busy daemon's WAL small and reused instead of
growing for 2 minutes: every commit that extends the file makes ext4's fdatasync commit
its journal too (the new blocks and the size), on the alarm's path. Measured on the alert
bench (16 chairs, an alarm every ~20 ms: ~1 MB of WAL a second): bench/results.md,
section "evening". A clinic's normal load (~1 KB of WAL a second per chair) stays far
below it, so its checkpoints, and the SD card's writes, are as before.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("monitord.store")

# Each checkpoint rewrites every page changed since the last: rarer is fewer bytes (the
# pages every commit touches, page 1, the pointer map, `pending`, `state` and the interior
# pages, go once per checkpoint, not once per 2 minutes). The WAL grows meanwhile: a chair
# at HR and SpO2 1 Hz ~0.8 MB in 10 min, 4 chairs ~2.1 MB, under WAL_RESET_BYTES. Not a
# durability point: readings commits are fsynced at least every 30 s (storeguard).
# 600 s against 120 s: 10.2-10.4 against 11.1-11.3 MB per chair-hour (bench/results.md,
# 2026-12-01 evening).
CHECKPOINT_EVERY_S = 600.0
# Readings committed after which the checkpoint runs early: ~1,000 WAL pages at 1 KiB.
CHECKPOINT_READINGS = 5_000
# A WAL file grown past this is checkpointed early, so the next writes reuse it.
WAL_RESET_BYTES = 4 << 20


class Checkpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.done = 0  # checkpoints run (status, tests)
        self._wal = Path(f"{path}-wal")
        self._wal_seen = 0  # the WAL file's size at the last commit (writer thread)
        self._readings = 0  # committed since the last kick (writer thread)
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Checkpoint soon (the writer committed much since the last one)."""
        self._kick.set()

    def committed(self, readings: int) -> None:
        """In the writer thread, after each commit: kick when many readings went in since
        the last kick or the WAL file grew past `WAL_RESET_BYTES` (a stat, ~2 us)."""
        self._readings += readings
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            size = 0
        grew, self._wal_seen = size > self._wal_seen, size
        if self._readings >= CHECKPOINT_READINGS or (grew and size >= WAL_RESET_BYTES):
            self._readings = 0
            self.kick()

    def stop(self, timeout: float | None = None) -> bool:
        """End the thread; False when it did not end within `timeout` (a checkpoint the
        disk does not finish: a daemon thread, left to the process's exit)."""
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

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
