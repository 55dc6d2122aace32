"""The store's writer thread: every write to the SQLite file runs here, off the event loop.

A commit fsyncs (tens of milliseconds on a Pi's SD card); run on the loop it stalls every
chair's alarms, the MQTT sink and the watchdog for that long (issue 20). So the daemon
hands its writes to this one thread, in order: chair batches (group-committed by
monitord/storeguard.py), delivery marks, status, pruning. The loop keeps a second,
read-only connection for the sinks' fetches (WAL: readers never wait for the writer).

Jobs run one at a time in submission order; a job's result or exception comes back to
the loop through its future. Stopping runs what was submitted, then ends the thread. A
stop cannot wait for a disk that hangs (monitord/storestop.py): the thread is then
abandoned, in its job: it is a daemon thread, so the process can exit without it, and it
runs and reports nothing more should the disk answer before the process is gone (the
hung job's transaction is committed, or not, as one: SQLite's WAL).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("monitord.store")

T = TypeVar("T")

_STOP = object()


class StoreWriter:
    def __init__(self, name: str = "store-writer") -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Monotonic start of the job running now, None between jobs: read on the loop by
        # monitord/storestall.py, which must see a job that never returns (a disk that
        # hangs in fsync) from outside this thread.
        self.busy_since: float | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._stopped = False

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` in the writer thread after everything submitted before it."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._stopped:
            fut.set_exception(RuntimeError("the store writer is stopped"))
            return fut
        self._jobs.put((fn, fut))
        return fut

    async def call(self, fn: Callable[[], T]) -> T:
        """`submit` and await the result on the running loop."""
        return await asyncio.wrap_future(self.submit(fn))

    def stop(self, timeout: float | None = None) -> bool:
        """Run what is queued, then end the thread; True once it ended. False when it did
        not within `timeout` (a write the disk does not finish): it is then abandoned."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.abandon()
            return False
        return True

    def abandon(self) -> None:
        """Give the thread up (a stop that cannot wait for the disk): it runs no further
        job and sets no future, not even the one of the job it is in when that returns."""
        self._abandoned = self._stopped = True
        self._jobs.put(_STOP)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP or self._abandoned:
                return
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            self.busy_since = time.monotonic()
            try:
                result = fn()
            except BaseException as e:  # handed to the loop, which decides
                self.busy_since = None
                if self._abandoned:  # the loop is gone, or said this write is lost
                    return
                fut.set_exception(e)
            else:
                self.busy_since = None
                if self._abandoned:
                    return
                fut.set_result(result)
