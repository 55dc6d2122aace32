"""The alarm's right of way on the event loop (issue 20).

From the moment a chair's batch with an alert event is handed to the store's writer
thread until its commit's callback has published it, the alarm is "in flight". Bulk work
that shares the loop (the InfluxDB writer's fetch and encode, ~200 rows a second under
the alert bench's 16 chairs) yields at its slice boundaries and, while an alarm is in
flight, waits for it: otherwise each of the alarm's loop turns (the commit's callback,
the MQTT write) queues behind a slice, and the writer thread doing the alarm's rows waits
for the GIL the loop thread holds. Measured: bench/results.md, section `inf`.

The wait is bounded (`MAX_WAIT_S`), so a storm of alarms slows the bulk work but never
stops it. Cooperative only: a slice already running is not interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib

from monitord.aio import within

# The longest a bulk task steps aside for one alarm; an alarm's path takes ~2 ms here
# (23 ms on a 20-ms-fsync SD card), so this only ends a wait that something broke.
MAX_WAIT_S = 0.1


class AlarmWindow:
    """Counts alarms in flight (`open`/`close`, on the loop); `step_aside` is the bulk
    work's yield point."""

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._open = 0
        self._clear: asyncio.Future[None] | None = None
        self.waits = 0  # times a bulk task found an alarm in flight (tests, status)

    @property
    def in_flight(self) -> bool:
        return self._open > 0

    def open(self) -> None:
        self._open += 1

    def close(self) -> None:
        self._open = max(0, self._open - 1)
        if not self._open and self._clear is not None:
            if not self._clear.done():
                self._clear.set_result(None)
            self._clear = None

    async def step_aside(self) -> None:
        """One loop turn; then, while an alarm is in flight, wait until it is published
        (at most `max_wait_s`)."""
        await asyncio.sleep(0)
        if not self._open:
            return
        self.waits += 1
        if self._clear is None:
            self._clear = asyncio.get_running_loop().create_future()
        # Not asyncio.wait_for: in 3.11 it loses a stop that comes in the loop turn of
        # the alarm's publish, and the bulk task went on (monitord/aio.py).
        with contextlib.suppress(TimeoutError):
            await within(asyncio.shield(self._clear), self.max_wait_s)
