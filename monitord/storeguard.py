"""Writes to the store that survive a full disk, and the store's housekeeping (issue 12).

A full disk (or an I/O error, a file system gone read-only) must not throw away what the
alert engine has already seen: the engine's state has moved on, so its output *is* the
record. We keep the engine running and hold its output in memory instead of holding its
input: holding the input would stop every alarm of the chair until the disk is freed (and
overflow the input queue), while a held output still shows its alarms live on the console
and in the retained MQTT active set, and is stored, in order, as soon as the disk takes
it. So each chair batch (readings, alert and session events, engine snapshot) is a
`StoreBatch`; `StoreGuard.write` commits it, or on a storage error rolls the transaction
back, keeps the batch and raises the technical alarm `store.unwritable`. The guard's task
retries every held batch, oldest first, in one transaction with capped backoff; when it
succeeds each batch's `done` runs (publish, wake the sinks) and the alarm clears.

Bounds: alert and session events and engine snapshots are held without limit (a few
hundred bytes each; an alarm must never be lost); readings beyond `HELD_READINGS_MAX` are
dropped oldest first, counted and said at CRITICAL (~50 MB of RAM, a disk full for hours).
A daemon stopped while holding loses what is held, and says so at CRITICAL (storestop.py).

Commands: while the guard holds data, a nurse's command is refused unapplied, saying why
(ChairRuntime.process); one applied in the very batch whose commit failed is answered at
once that it was applied but is not yet stored. Housekeeping: `Outbox.prune()` runs every
`storage.prune_interval_s`; undelivered readings it dropped raise `store.budget`.

Off the event loop (issue 20): given a `StoreWriter` (the daemon does, for a store on
disk), every commit, delivery mark, status write and prune runs in the writer thread, so
the loop never waits for an fsync. `write` then queues the batch and returns; its `done`
runs on the loop once committed (an alert is durable before it is published). Group
commit: a batch with alert or session events or a command's answer is committed at once,
with its own chair's batches only (issue 20's fast path), and is in flight in `window`
(bulk work steps aside: monitord/alarmwindow.py) until its `done` has run; batches of
readings alone wait up to `storage.commit_interval_s` for company (one fsync per interval,
not per sample) and, while a commit is in the thread, go in the next one. The loss window:
on a crash or power loss, the readings of at most the last `commit_interval_s` (not yet
published anywhere); alert and session events never wait (docs/reliability.md). Without
a writer (tests, a store in memory) everything commits at once on the caller.

SD-card writes (issue 20): delivery marks (held by the outbox, skipped by fetches) and
live status (`put_live`, rewritten on change or as a 60-s heartbeat; an alarm's or link's
change in a small commit at once) go into the next group commit not an alarm's; one of
readings alone is NORMAL (no fsync; the next alert's FULL commit, a readings commit at
least every SYNC_EVERY_S or a checkpoint syncs it): an alert never queues behind it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from monitord.aio import Doze, on_loop
from monitord.alarmwindow import AlarmWindow
from monitord.log import FailureLog
from monitord.outbox import SINKS, Durability, Outbox, store_unavailable
from monitord.store.checkpoint import Checkpointer
from monitord.store.codec import dumps
from monitord.store.schema import unwritable_advice as advice
from monitord.store.schema import unwritable_cause
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch, alarms_first, alarms_to_front, say_lost, tell_held
from monitord.storecheck import unsound_write
from monitord.storedrop import DropLog
from monitord.storeflood import FLOOD_INTERVAL_S, GROUP_COMMIT_READINGS, Flood
from monitord.storeprune import prune_here, prune_in_writer
from monitord.techalarm import TechAlarms

log = logging.getLogger("monitord.store")

Live = dict[str, tuple[Any, Any]]  # live state waiting: key -> (value, signature)
HELD_READINGS_MAX = 50_000
# Delivery marks held for the next group commit beyond which it is started at once.
MARKS_FLUSH_AT = 2_000
# A group commit of readings alone fsyncs at least this often (else NORMAL, no fsync):
# the power-loss window of readings (docs/reliability.md).
SYNC_EVERY_S = 30.0
# Live state that did not change is rewritten this often all the same (its age is shown).
LIVE_HEARTBEAT_S = 60.0
RETRY_INITIAL_S, RETRY_CAP_S = 0.5, 5.0


class StoreGuard:
    def __init__(
        self,
        outbox: Outbox,
        alarms: TechAlarms,
        writer: StoreWriter | None = None,
        commit_interval_s: float = 0.0,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.outbox = outbox
        self.alarms = alarms
        self.writer = writer
        self.commit_interval_s = commit_interval_s
        self._inflight = 0  # with a writer: batches (a prefix of `held`) being committed
        self._busy = False  # with a writer: a commit is in the thread (maybe of no batch)
        self._alarm = False  # ... and it is an alarm's (in flight in `window`)
        self._flood = Flood()  # a flood of readings: commits FLOOD_INTERVAL_S apart
        self._again = False  # a commit was wanted while one was in the thread: at once
        self._live_now = False  # live state to commit at once, alone (`put_live(now=)`)
        self._timer: asyncio.TimerHandle | None = None
        self.held: list[StoreBatch] = []
        self._held_readings = 0  # readings in `held`, kept as a count (no rescans)
        self._trim_at = 0
        self.dropped_held = 0
        self.failures = 0
        self.last_error: BaseException | None = None  # of the last failed write
        self._retry_s = RETRY_INITIAL_S
        self._next_try = 0.0
        self._flog = FailureLog(log, f"store {outbox.path}")
        self._droplog = DropLog()
        self._doze = Doze()  # the task's wait; a failed write ends it (retry timing)
        self._stopped = False  # the writer thread ended (a stop): `writer_stopped` ran
        self.stalled = False  # a write hangs in the thread: held, like a failure (storestall)
        self.window = AlarmWindow()
        self.checkpointer = checkpointer
        self._synced_at = time.monotonic()  # the last fsynced group commit (thread)
        # Live state (status) for the next group commit; the thread rewrites only a change.
        self._live: Live = {}
        self._live_written: dict[str, tuple[str, float]] = {}  # key -> (JSON, monotonic)
        if writer is not None:
            # Delivery marks go into the next group commit too (SD-card writes: before,
            # every sink's marks were a transaction of their own after every batch).
            outbox.fold_marks(self._marks_waiting)

    @property
    def holding(self) -> bool:
        """The disk refused the last commit: output is held in memory (not merely queued
        for the writer thread)."""
        return bool(self.held) and (self.writer is None or self.failures > 0 or self.stalled)

    def trouble(self) -> str:
        """Why output is held, in a few words (a command's answer, the loss said at stop)."""
        if self.failures and self.last_error is not None:
            return unwritable_cause(self.last_error, self.outbox.path)
        return "its writes hang" if self.stalled else "see the store alarm"

    @property
    def in_write(self) -> int:
        """Batches (a prefix of `held`) in the commit the writer thread is running."""
        return self._inflight

    # -- writes ----------------------------------------------------------------------
    def write(self, batch: StoreBatch) -> bool:
        """Store `batch` now (True, its `done` has run) or hold it (False). With a writer
        thread: True = queued for commit (its `done` runs once committed), False = held
        (the disk is failing)."""
        self.held.append(batch)
        self._held_readings += batch.n_readings()
        if self.writer is not None:
            if self.failures or self.stalled:
                batch.told_held = True
                if self._held_readings > HELD_READINGS_MAX:
                    self._bound()
                return False
            if batch.now() or self.commit_interval_s <= 0 or self._full():
                self._kick()
            else:
                self._soon()
            return True
        if len(self.held) > 1:
            if self._held_readings > HELD_READINGS_MAX:
                self._bound()
            return False  # older batches wait: keep the order; the retry task writes all
        return self.flush()

    def put_live(self, key: str, value: Any, signature: Any = None, *, now: bool = False) -> None:
        """Live state (`monitord status`): written with the next group commit (within
        `commit_interval_s`), only if it changed since last written; with a `signature`,
        if that changed (the caller leaves out counters that tick with every reading) or
        LIVE_HEARTBEAT_S passed. Without a writer: at once; once it stopped, never (the
        stop's close owns the store, and closes it). `now`: it and the marks held at once,
        without the readings waiting for the interval (NORMAL: survives a crash)."""
        if self.writer is None:
            put = self.outbox.put_state
            self._try_write(lambda: put(key, value, durability=Durability.NORMAL, commit=False))
        if self.writer is None or not self.writer.alive:
            return
        self._live[key] = (value, value if signature is None else signature)
        if now and not self.failures:
            self._live_now = True  # next turn: a commit's callback may take it along
            asyncio.get_running_loop().call_soon(self._kick_live)
        else:
            self._soon()

    def _kick_live(self) -> None:  # `put_live(now=True)`; its turn may follow a failure:
        # a disk refusing batches may take status alone, which is no recovery (`_recovered`)
        if self._live_now and self._live and not self.failures:
            self._kick(live_only=True)

    def _full(self) -> bool:
        """Enough readings queued to commit without waiting out the interval (a backlog,
        an ingest burst: the interval is for a clinic's trickle, not a flood)."""
        return self._held_readings >= GROUP_COMMIT_READINGS

    def _marks_waiting(self, held: int) -> None:
        """On the loop: a sink marked rows delivered (held by the outbox until written)."""
        if held >= MARKS_FLUSH_AT:
            # A backlog being drained fast: every sink fetch skips the held marks, so
            # do not let them pile up for a whole interval.
            self._kick()
        else:
            self._soon()

    def _soon(self) -> None:
        """Something waits for the next group commit: make sure one comes within
        `commit_interval_s` (a commit in flight reschedules when it returns)."""
        if self.failures or self._busy or self._timer is not None:
            return
        if self.commit_interval_s <= 0:
            self._kick()
            return
        loop = asyncio.get_running_loop()
        # While a flood goes on (monitord/storeflood.py), the rest goes soon: the interval
        # is for a trickle (a burst's tail must not wait it out).
        delay = min(FLOOD_INTERVAL_S, self.commit_interval_s) if self._flood.on else None
        self._timer = loop.call_later(delay or self.commit_interval_s, self._kick)

    def _waiting(self) -> bool:
        """Anything to write besides batches (live state, delivery marks)?"""
        return bool(self._live) or self.outbox.marks_held() > 0

    def _kick(self, live_only: bool = False) -> None:
        """With a writer: hand every queued batch, the live state and the delivery marks
        held to the thread as one transaction, unless one is being committed (then they go
        next, when it returns); `live_only`: live state and marks alone (an alarm first)."""
        # An alarm's commit takes its chair's batches only (alarms_to_front): the other
        # chairs' readings, status rows and delivery marks keep their timer, so it stays
        # small (they cost up to ~0.2 ms before its fsync) and no burst of vitals follows.
        n = 0 if self.failures or self._busy or not self.writer else alarms_to_front(self.held)
        live_only = live_only and not n
        batches = [] if live_only else list(self.held[:n] if n else self.held)
        alarm = not self._busy and any(b.now() for b in batches)
        if self._timer is not None and not n and not live_only and not (alarm and self._waiting()):
            self._timer.cancel()
            self._timer = None
        if self._busy or self.writer is None:
            self._again |= self._busy and not live_only  # a timer fired during a commit, say
            return
        if not self.held and not self._waiting():
            return
        if not live_only:
            self._again = False
            self._flood.commit(self._held_readings, self.commit_interval_s, alarm=bool(n))
        live, self._live = ({}, self._live) if alarm else (self._live, {})
        self._live_now = self._live_now and alarm
        self._inflight, self._busy, self._alarm = len(batches), True, alarm
        if alarm:
            self.window.open()
        fut = self.writer.submit(lambda: self._store(batches, live, marks=not alarm))
        loop = asyncio.get_running_loop()
        fut.add_done_callback(lambda f: loop.call_soon_threadsafe(self._committed, batches, f))

    def _committed(self, batches: list[StoreBatch], fut: concurrent.futures.Future[None]) -> None:
        """On the loop: the writer thread committed `batches` (or failed to)."""
        if self._stopped:  # the stop took the commit's batches off `held` and told them
            return
        self._inflight, self._busy = 0, False
        if self._alarm:  # closed after this callback, i.e. after the dones published it
            asyncio.get_running_loop().call_soon(self.window.close)
        e = fut.exception()
        if e is None:
            del self.held[: len(batches)]
            self._held_readings = sum(b.n_readings() for b in self.held)
            self._trim_at = 0
            if self.failures:
                self._recovered(batches)
            if any(b.events for b in batches):
                self.alarms.clear("store.dropped", "alert events are stored again")
            for b in alarms_first(batches):
                if b.done is not None:
                    b.done()
            if (self._again and (self.held or self._waiting())) or (
                self.held
                and (any(b.now() for b in self.held) or self.commit_interval_s <= 0 or self._full())
            ):
                self._kick()
            elif self._live_now:
                self._kick_live()
            elif self.held or self._waiting():
                self._soon()
            return
        if not batches and store_unavailable(e):
            # Only live state and delivery marks: the marks stay held (written by the
            # next commit that succeeds), status is rewritten later; no alarm for that.
            self._flog.failure("marks", f"marks and status not written: {e}", logging.DEBUG)
            return
        if not store_unavailable(e):
            del self.held[: len(batches)]
            self._held_readings = sum(b.n_readings() for b in self.held)
            self._dropped(batches, e)
            return
        self._failed(e)
        tell_held(self.held)  # alarms shown live, commands answered: held in memory now

    def _store(
        self, batches: list[StoreBatch], live: Live | None = None, *, marks: bool = True
    ) -> None:
        """Add `batches`, then the live state that changed and (`marks`) the delivery marks
        held (with a writer), in one transaction and commit; roll back and raise on failure.
        In the writer thread, or on the caller without one. A transaction of live state
        and marks alone commits without fsync (Durability.NORMAL, monitord/outbox.py)."""
        ob = self.outbox
        written: dict[Any, set[int]] = {}
        wrote: dict[str, tuple[str, float]] = {}
        now = time.monotonic()
        # Durability (docs/reliability.md): a transaction with an alert or session event
        # or a command's answer fsyncs (FULL), and with it everything queued before; one
        # of readings alone (with engine snapshots, marks, status) does not (NORMAL:
        # atomic, survives a crash, a power loss may roll it back) unless SYNC_EVERY_S
        # passed since the last fsync. So an alert never waits behind a readings fsync.
        sync = self.writer is None or any(b.now() for b in batches)
        sync = sync or now - self._synced_at >= SYNC_EVERY_S
        try:
            if batches and self.writer is not None:
                ob.begin(Durability.SYNC if sync else Durability.NORMAL)
            state: dict[str, Any] = {}
            for b in batches:
                for run, sess in b.runs:
                    ob.add_readings(run, {b.chair: sess})
                if b.events:
                    b.alerts = ob.add_alerts(b.events)
                if b.sessions:
                    ob.add_session_events(b.sessions)
                state.update(b.state)
            for key, value in state.items():
                # Resume state (engine snapshot, clock, BP seen): SYNC.
                ob.put_state(key, value, durability=Durability.SYNC, commit=False)
            for key, (value, signature) in (live or {}).items():
                text = dumps(signature)
                last = self._live_written.get(key)
                # Rewritten on change, or as a heartbeat (`monitord status` shows its age).
                if last is None or last[0] != text or now - last[1] >= LIVE_HEARTBEAT_S:
                    ob.put_state(key, value, durability=Durability.NORMAL, commit=False)
                    wrote[key] = (text, now)
            if self.writer is not None and marks:
                written = ob.write_held_marks()
            ob.commit()
        except BaseException:
            ob.rollback()
            raise
        self._live_written.update(wrote)
        for b in batches:
            b.committed = True
        ob.marks_committed(written)
        if batches and sync:
            self._synced_at = now
        if self.checkpointer is not None:
            self.checkpointer.committed(sum(b.n_readings() for b in batches))

    async def drain(self) -> None:
        """With a writer: commit everything queued now and wait until the thread is done
        with it and with every job submitted before (shutdown)."""
        if self.writer is None:
            self.flush()
            return
        for _ in range(100):  # a bound, not a wait: each round is one commit
            if not self._busy and not self.failures and (self.held or self._waiting()):
                self._kick()
            await self.writer.call(lambda: None)  # runs after the commit job
            await asyncio.sleep(0)  # and the commit's callback before we look
            if not self._busy and (not (self.held or self._waiting()) or self.failures):
                return

    def flush(self) -> bool:
        """Write every held batch in one transaction. True when nothing is held after.
        On the caller's thread: without a writer, or once it is stopped."""
        if not self.held:
            return True
        batches = self.held
        try:
            self._store(batches)
        except Exception as e:
            if not store_unavailable(e):
                self.held, self._held_readings, self._trim_at = [], 0, 0
                self._dropped(batches, e)
                raise
            self._failed(e)
            return False
        self.held, self._held_readings, self._trim_at = [], 0, 0
        if self.failures:
            self._recovered(batches)
        for b in batches:
            if b.done is not None:
                b.done()
        return True

    def try_write(self, fn: Callable[[], Any]) -> bool:
        """Run `fn` (writes of live state: status, snapshots) and commit; on a storage
        error roll back and report False (live state is rewritten later anyway). With a
        writer it runs there and this returns True at once (a failure is logged there)."""
        if self.writer is not None and self.writer.alive:
            self.writer.submit(lambda: self._try_write(fn))
            return True
        return self._try_write(fn)

    def _try_write(self, fn: Callable[[], Any]) -> bool:
        try:
            fn()
            self.outbox.commit()
        except (sqlite3.Error, OSError) as e:
            self.outbox.rollback()
            if not store_unavailable(e):
                raise
            self._flog.failure("write", f"live state not written: {e}", logging.DEBUG)
            return False
        return True

    def _dropped(self, batches: list[StoreBatch], e: BaseException) -> None:
        """A bug (a value SQLite or JSON refuses) or a bad page, not the disk: retrying would
        block every later batch, so `batches` are dropped. Loudly: alarms show live, commands
        are answered, `store.dropped` (a bug) or `store.unsound` (the file) says so."""
        n = sum(len(b.events) for b in batches)
        what = f"{type(e).__name__}: {e}"
        self._droplog.dropped(len(batches), n, what)  # once, then once an hour (storedrop)
        tell_held(batches, dropped=True)
        if not unsound_write(self.outbox, e, self.alarms) and n:  # a bad page: not a bug
            self.alarms.raise_("store.dropped", f"{n} alert event(s) could not be stored "
                               f"({what}; a bug): shown here and in the active set, not sent "
                               "as events to the station; report it with the journal")  # fmt: skip

    def _failed(self, e: BaseException) -> None:
        self.failures, self.last_error = self.failures + 1, e
        self._next_try = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_CAP_S)
        self._flog.failure(type(e).__name__, f"write failed: {e}", logging.DEBUG)
        readings, events = self._held_readings, sum(len(b.events) for b in self.held)
        self.alarms.raise_(
            "store.unwritable",  # the advice: a full disk is freed, a failing card replaced
            f"the store {self.outbox.path} cannot be written ({e}): {readings} readings and "
            f"{events} alert events held in memory, retrying; alerts show here but reach "
            f"neither the nurses' station nor InfluxDB until it can; {advice(e, self.outbox.path)}",
        )
        self._doze.rouse()

    def _recovered(self, batches: list[StoreBatch]) -> None:
        readings = sum(b.n_readings() for b in batches)
        events = sum(len(b.events) for b in batches)
        self._flog.success(f"{len(batches)} held batches stored")
        self.alarms.clear(
            "store.unwritable",
            f"the store takes writes again: {readings} held readings and {events} alert "
            f"events stored after {self.failures} failed attempts"
            + (f"; {self.dropped_held} held readings were dropped" if self.dropped_held else ""),
        )
        self.failures = 0
        self._retry_s = RETRY_INITIAL_S
        if self.writer is not None and (self._stopped or not on_loop()):
            # At stop (the writer ended; close_report writes the held marks), or in the
            # store-close thread: no loop to time a commit on. Asked, it raised (exit 1).
            return
        for sink in SINKS:  # delivery marks the full disk refused
            self.outbox.mark_delivered(sink, [])

    def _bound(self) -> None:
        """Drop the oldest held readings beyond HELD_READINGS_MAX (never events)."""
        excess = self._held_readings - HELD_READINGS_MAX
        # Batches before `_trim_at` have no readings left: not scanned again. Batches in
        # the writer thread's transaction are not ours to change.
        self._trim_at = max(self._trim_at, self._inflight)
        while self._trim_at < len(self.held) and not self.held[self._trim_at].runs:
            self._trim_at += 1
        for b in self.held[self._trim_at :]:
            while b.runs and excess > 0:
                run = b.runs[0][0]
                n = min(len(run), excess)
                del run[:n]
                excess -= n
                self._held_readings -= n
                self.dropped_held += n
                if not run:
                    b.runs.pop(0)
            if excess <= 0:
                break
        self.alarms.raise_(
            "store.held_dropped",
            f"the store has not taken writes for long: {self.dropped_held} held readings "
            "dropped from memory (alert events are all kept)",
        )

    # -- the task --------------------------------------------------------------------
    async def run(self, prune_interval_s: float) -> None:
        """Retry held batches (capped backoff) and prune the store periodically."""
        next_prune = time.monotonic()
        while True:
            now = time.monotonic()
            if self.held and now >= self._next_try:
                if self.writer is None:
                    self.flush()
                elif self.failures and not self._busy:
                    self._kick()  # the retry: in the thread, like every commit
            if now >= next_prune:
                next_prune = now + prune_interval_s
                if not self.holding:
                    if self.writer is None:
                        self.prune()
                    else:
                        await self.prune_async()
            delay = next_prune - now
            if self.held:
                delay = min(delay, max(self._next_try - now, 0.05))
            # Not asyncio.wait_for: in 3.11 it loses a stop that comes in the loop turn of
            # a failed write's wake, and the daemon hung on SIGTERM (monitord/aio.py).
            await self._doze(max(delay, 0.05))

    async def prune_async(self) -> dict[str, int]:
        """`prune` in the writer thread, one bounded step per job (monitord/storeprune.py)."""
        assert self.writer is not None
        return await prune_in_writer(self.outbox, self.writer, self._flog, self.alarms)

    def prune(self) -> dict[str, int]:
        return prune_here(self.outbox, self._flog, self.alarms)

    def writer_stopped(self) -> None:
        """At stop, on the loop's thread, once the writer thread ended: the batches its
        last commit stored are taken off `held` and told (their `done`), as `_committed`
        would have. Its callback waits for the loop, which the stop blocks: on a stop
        without the drain (a task crashed) they were still held when the close's flush
        ran, and stored a second time (each alert event twice, sent twice). That callback,
        should the loop still run it, does nothing."""
        self._stopped = True
        stored = [b for b in self.held if b.committed]
        if not stored:
            return
        self.held = [b for b in self.held if not b.committed]
        self._held_readings = sum(b.n_readings() for b in self.held)
        self._inflight, self._busy, self._trim_at = 0, False, 0
        if self.failures:  # the guard's retry took them: `store.unwritable` clears
            self._recovered(stored)
        for b in alarms_first(stored):
            done, b.done = b.done, None
            try:
                if done is not None:
                    done()
            except Exception:  # a bug: the rest must still be told, the held still stored
                log.exception("store: telling a batch stored at stop failed (a bug)")

    def close_report(self) -> None:
        """At stop (after the writer thread stopped): delivery marks still held are
        written; what is still held is lost; say it loudly (monitord/storestop.py)."""
        if self.writer is not None and not self.held and self.outbox.marks_held():
            try:
                self._store([])
            except (sqlite3.Error, OSError) as e:  # the rows are resent after a restart
                log.warning("store: delivery marks not written at stop: %s", e)
        if self.held and not self.flush():
            why = f"the store {self.outbox.path} cannot be written ({self.trouble()})"
            say_lost(self.held, why, self.alarms.console)
