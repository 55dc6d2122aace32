"""The store's part of a stop, bounded: a disk that hangs must not hang the stop.

A stop (SIGTERM) commits what the chairs hold, then the resume state, the last status and
the clean-stop row, and waits for the writer thread (monitord/store/writer.py) to be done
with all of it. With the disk hung in fsync (`store.stalled`, monitord/storestall.py) that
wait never ended: the daemon sat until systemd's TimeoutStopSec (20 s) and was SIGKILLed,
and nothing said what it lost. So the stop waits for the store only while the store is not
stalled and for at most STOP_WAIT_S from its start, then gives the disk up: it says at
CRITICAL, on the journal and the console, what it held and loses (alert events, session
events, readings; those in the hung write are stored only if the disk ever finishes it),
writes nothing more and exits 0. What it does not do, on purpose:

- close the store: the hung thread is inside a transaction on the store's connection, and
  a close (or a last flush) on the main thread would wait on that connection's mutex for
  ever. The threads are daemon threads, so the process exits without them; SQLite's WAL
  makes the hung write commit whole or not at all, whenever the disk finishes it, and the
  next start recovers the file as after a crash (no clean stop recorded: its report says
  so, store/outages.py);
- release the store's lock: while the process lives, the hung thread may still write; the
  kernel drops the lock when the process is gone.

The close's own writes are bounded too, within the same STOP_WAIT_S: with the writer
thread done, the last write of what a full disk held (`close_report`), the checkpointer's
end and the store's close (its TRUNCATE checkpoint syncs the main file) run in a
`store-close` thread. A disk that begins to hang there held the main thread for ever
before; now the stop gives that thread up, says at CRITICAL which step did not finish and
the state the store is left in (every commit is in the WAL; the next open redoes the
checkpoint), leaves the store open and its lock to the process's exit, and exits 0.

A thread in the kernel's uninterruptible sleep (a real hung fsync) keeps even an exiting
process from ending until the disk answers; no signal, SIGKILL included, can end it
sooner (docs/reliability.md, "A stop while the disk hangs").
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storebatch import say_lost
from monitord.storeguard import StoreGuard
from monitord.storeopen import StoreLock

log = logging.getLogger("monitord.store")

# The stop waits this long at most for the store (from its first wait), against the unit's
# TimeoutStopSec=20s: the MQTT sink's `offline` (2 s) and the exit come after.
STOP_WAIT_S = 10.0
# The least `close` waits for a thread to end (an idle one ends in microseconds).
JOIN_MIN_S = 1.0
# How often a stop waiting for the store looks whether it stalled meanwhile.
STOP_LOOK_S = 0.1


class StoreStop:
    def __init__(
        self,
        guard: StoreGuard,
        writer: StoreWriter | None,
        checkpointer: Checkpointer | None,
        lock: StoreLock,
    ) -> None:
        self.guard = guard
        self.writer = writer
        self.checkpointer = checkpointer
        self.lock = lock
        self.hung: str | None = None  # why the stop gave the disk up
        # A bug in the close (logged at ERROR): `monitord run` then exits 70, not 0, so
        # systemd marks the unit failed rather than "Deactivated successfully".
        self.bug: str | None = None
        self._t0: float | None = None

    def _left(self) -> float:
        if self._t0 is None:
            self._t0 = time.monotonic()
        return max(0.0, self._t0 + STOP_WAIT_S - time.monotonic())

    def _join_s(self) -> float:
        """How long `close` waits for a thread to end: what is left of STOP_WAIT_S, but
        never too little for an idle one (a drain that ended at the deadline)."""
        return max(self._left(), JOIN_MIN_S)

    def _why(self) -> str:
        busy = self.writer.busy_since if self.writer is not None else None
        store = f"the store {self.guard.outbox.path}"
        if busy is None:
            return f"{store} did not finish writing within {STOP_WAIT_S:.0f} s of the stop"
        return f"{store} has not finished a write for {time.monotonic() - busy:.0f} s (disk hangs?)"

    async def drain(self) -> bool:
        """`StoreGuard.drain`, given up when the store is stalled or STOP_WAIT_S passed
        since the stop's first wait: False then (write nothing more)."""
        if self.hung is not None:
            return False
        task = asyncio.ensure_future(self.guard.drain())
        try:
            while not self.guard.stalled and self._left() > 0:
                await asyncio.wait({task}, timeout=min(STOP_LOOK_S, self._left()))
                if task.done():
                    task.result()
                    return True
            self.hung = self._why()
            return False
        finally:
            task.cancel()  # waits on the hung job's future: nothing else to undo

    def close(self) -> None:
        """After the daemon's tasks ended: end the writer thread (what is queued runs),
        store what the guard still holds (a full disk) or say it is lost, end the
        checkpointer, close the store and release its lock; bounded like `drain`."""
        w, g = self.writer, self.guard
        if self.hung is None and w is not None:
            if g.stalled:
                self.hung = self._why()
            elif not w.stop(self._join_s()):  # a stop without `drain`: a task crashed
                self.hung = self._why()
            else:  # what its last commit stored is no longer held (stored once)
                g.writer_stopped()
        if self.hung is not None:
            if w is not None:
                w.abandon()
            if self.checkpointer is not None:
                self.checkpointer.stop(0)
            say_lost(g.held, self.hung, g.alarms.console, g.in_write)
            return  # the connection is the hung thread's; the lock is the process's
        if w is None:  # a store in memory: no disk to hang, a connection bound to us
            g.close_report()
            g.outbox.close()
            self.lock.release()
            return
        # The rest writes too: the held batches or marks (close_report), the last
        # checkpoint (the close's TRUNCATE). A disk that starts to hang there held the
        # main thread for ever, silent until systemd's SIGKILL. So they run in a thread
        # the stop can give up, within the same budget; the main thread only waits, so
        # what they call back (the alarms) runs one at a time. A stored batch's `done`
        # runs here once the thread is done (`_Closing.stored`).
        steps = _Closing(g, self.checkpointer)
        thread = threading.Thread(target=steps.run, name="store-close", daemon=True)
        thread.start()
        thread.join(self._join_s())
        if thread.is_alive():
            steps.abandoned = True
            self.hung = steps.say_left(STOP_WAIT_S)
            return  # its connection is the hung thread's; the lock is the process's
        if steps.error is not None:  # a bug, not the disk: what was stored is told all the same
            self.bug = f"store close: {steps.step} failed (a bug)"
            log.error(self.bug, exc_info=steps.error)
        # What the thread stored is told here, on the caller's thread (the loop's, which
        # waited above): the listeners (the MQTT sink's wake, the console, the
        # annunciator's poke) and commands' futures belong to the loop, not to that thread.
        # Each on its own: a bug in one must not keep the others untold, nor the lock held.
        try:
            for done in steps.stored:
                try:
                    done()
                except Exception as e:
                    self.bug = self.bug or f"store close: telling a stored batch failed: {e!r}"
                    log.error(f"store close: telling a stored batch failed (a bug): {e!r}",
                              exc_info=e)  # fmt: skip
        finally:
            try:
                g.outbox.close_reads()
            finally:
                self.lock.release()


class _Closing:
    """The close's steps that a disk can hang in, run in order in the `store-close`
    thread; `step` is the one running, for what `say_left` says when it does not end."""

    def __init__(self, guard: StoreGuard, checkpointer: Checkpointer | None) -> None:
        self.guard = guard
        self.checkpointer = checkpointer
        self.step = "report"
        self.abandoned = False  # the stop gave it up: nothing more is done or said
        self.error: BaseException | None = None
        # The held batches' `done`, taken off them for the thread (it must not call the
        # loop's listeners); set once `close_report` stored them, for `close` to run.
        self.stored: list[Callable[[], None]] = []

    def run(self) -> None:
        try:
            held = [b for b in self.guard.held if b.done is not None]
            dones = [b.done for b in held if b.done is not None]
            for b in held:
                b.done = None
            self.guard.close_report()
            if held and not self.guard.held:  # stored (a full disk left them held: lost)
                self.stored = dones
            self.step = "checkpointer"
            if self.checkpointer is not None and not self.abandoned:
                self.checkpointer.stop()
            self.step = "checkpoint"
            if not self.abandoned:
                self.guard.outbox.close_writes()
            self.step = "done"
        except BaseException as e:  # re-raised on the main thread (a bug, not the disk)
            if not self.abandoned:
                self.error = e

    def say_left(self, budget_s: float) -> str:
        """Say at CRITICAL, on the journal and the console, what state the store is left
        in by the step that did not end; return why (for `StoreStop.hung`)."""
        g = self.guard
        what = {
            "report": "writing what it held" if g.held else "its last writes (marks, status)",
            "checkpointer": "a checkpoint",
        }.get(self.step, "its final checkpoint")
        why = (
            f"the store {g.outbox.path} did not finish {what} within {budget_s:g} s of "
            "the stop (disk hangs?)"
        )
        # Committed is committed: SQLite's WAL holds every commit whole, and the next open
        # (a recovery, as after a crash) redoes a checkpoint that did not finish.
        state = (
            f"every commit before it is safe in the WAL ({g.outbox.path.name}-wal); a "
            "checkpoint that did not finish is redone at the next open; the store is left "
            "open, its lock released by the process's exit"
        )
        if self.step == "report" and g.held:  # the held batches are that very write
            say_lost(g.held, why, g.alarms.console, len(g.held), then=state)
            return why
        if self.step == "report":
            state = "records whose delivery marks are not written are sent again; " + state
        lost = (
            "nothing more is lost than said above" if g.held else "nothing held in memory is lost"
        )
        text = f"stopping while {why}: {lost}; {state}"
        log.critical(text)
        if g.alarms.console is not None:
            g.alarms.console(f"!!! {text}")
        return why
