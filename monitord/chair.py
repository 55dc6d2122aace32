"""One chair at run time: its input queue, its alert engine and the task that drains one
into the other.

Device transports (serial, BLE) and the scenario player of a simulated chair put inputs on
the queue through a `DeviceCtx` or `submit_command`; the chair task drains it in batches
and, per batch, in one SQLite transaction: stores each reading, feeds the engine, stores
the alert and session events it produced and the engine's snapshot, commits, and only
then publishes the batch on the hub (monitord/hub.py) for MQTT, the console, the status
writer and the sinks. So nothing is acknowledged before it is durable, and a restart
resumes the engine exactly where the last commit left it. When the disk cannot take a
batch (full), its output is held in memory and retried, never dropped
(monitord/storeguard.py); its alarms are published as a batch that is not `durable`.
The chair knows nothing of the daemon that runs it: store, hub and resume state are given.
The queue's items and the devices' handle are monitord/chair_inputs.py; how a batch's
stored records and repeats are sorted before the engine sees it, monitord/chair_records.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from monitord.aio import Doze, within
from monitord.chair_inputs import (
    DeviceCtx,
    DeviceStatus,
    InHand,
    Item,
    LinkChange,
    QueuedCommand,
    steady,
)
from monitord.chair_records import StoredSort
from monitord.chair_session import SessionGuard
from monitord.clock import SimClock, WallClock
from monitord.config import ChairConfig
from monitord.engine import AlertEngine
from monitord.engine.inputs import Ack, EngineInput, Link, SessionCmd, sample_from_reading
from monitord.engine.validity import judged
from monitord.history import StoredRecords, upgrade_keys
from monitord.hub import CommittedBatch, Hub
from monitord.models import AlertEvent, Kind, Reading, Refusal, SessionEvent, refusal_level
from monitord.outbox import Outbox
from monitord.simstart import sim_key
from monitord.storebatch import NOT_STORED, StoreBatch, not_stored, refused
from monitord.storeguard import StoreGuard

# The answer to a command whose batch the store dropped for a bug (`store.dropped`).
APPLIED_DROPPED = Refusal(
    "applied, but not stored: the store refused it (a bug: technical alarm store.dropped); "
    "see the journal",
    NOT_STORED,  # applied: no refusal to the station either (storebatch.py)
)
REFUSED_QUEUE_FULL = (
    "the chair's input queue is full (its task is stuck: see the journal); not applied"
)

log = logging.getLogger("monitord")

QUEUE_MAX = 10_000  # per chair; ~3 h of 1 Hz HR+SpO2 for a stalled chair task
# Engine state is saved with every batch that emitted events, took a BP reading (a BP
# run that did not confirm changes the state silently), a link change or a command, and
# otherwise at least this often (HR/SpO2 runs: a snapshot this old restores runs whose
# last sample is > 10 s back, which restart anyway). Every 2 s before issue 20's SD-card
# change: one state row rewrite per group commit, ~a third of the pages written.
SNAPSHOT_EVERY_S = 30.0


class ChairRuntime:
    def __init__(
        self,
        cfg: ChairConfig,
        engine: AlertEngine,
        clock: WallClock | SimClock,
        store: StoreGuard,
        hub: Hub,
        seen: Iterable[str] = (),
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        self.store = store
        self.hub = hub
        self.clock = clock
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_MAX)
        self.overflow = 0
        self.processed = 0
        # `wait_for` callers: (condition, future), checked after every batch.
        self._progress: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self.ticked_to = -math.inf
        self._engine_t = -math.inf  # the latest time fed or advanced to (see `_feed`)
        self.last_beat = time.monotonic()
        self.devices = {d.id: DeviceStatus(d.id, d.driver) for d in cfg.devices}
        self.active: list[dict[str, Any]] = []
        # The batches that changed the active set, numbered, and the newest one's number
        # whose set was shown (`_show`): held batches are shown before they are stored.
        self._sets = self._shown = 0
        self._last_snapshot = 0.0
        # Stored records and repeats (monitord/history.py): BP measurements already taken
        # (device, device time, values) are kept with the engine snapshot, so an IntelliVue
        # re-polled or a cuff re-pushing its memory after a restart cannot confirm a BP
        # rule twice. A simulated chair starts afresh like its engine.
        self.history = StoredRecords(() if cfg.simulated else seen)
        self.closing = False  # shutdown: held bursts resolve now
        self._records = StoredSort(cfg.id, self.history)
        self._doze = Doze()  # the chair task's idle wait: ended by `submit`, `wake` (`run`)
        # Refuses a session command for a session not open (monitord/chair_session.py).
        self._guard = SessionGuard(cfg.id)
        self._hand = InHand()  # the batch being processed: answered, carried if it raises
        self._carried: InHand | None = None  # what a batch that raised had done (`_take`)
        # A device link went up or down: told at once (`monitord status`, not a commit later).
        self.on_link: Callable[[str], None] | None = None
        # A device the restored engine still waits on or has lost, but this config no longer
        # has (removed or renamed while the daemon was down): no link of it comes back, so
        # its `tech.device_lost` escalated for ever, nothing could clear it, and a wait
        # restored for it raised one after the start. Retired first thing, on the chair's
        # task like any link change (committed, then published).
        for dev in sorted(engine.link_devices(cfg.id) - self.devices.keys()):
            self.queue.put_nowait(LinkChange(dev, True, clock.now(), retired=True))

    @property
    def duplicates(self) -> int:
        """Re-sent records dropped (same device time and values; monitord/history.py)."""
        return self.history.repeats

    # -- input side ------------------------------------------------------------------
    def submit(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # Never silent: counted, logged, visible in status. Only a chair task that is
            # stuck for hours gets here, and the supervisor reports that too.
            self.overflow += 1
            if self.overflow == 1 or self.overflow % 1000 == 0:
                log.error(f"{self.cfg.id}: input queue full, dropped {self.overflow} item(s)")
            if isinstance(item, QueuedCommand) and item.reply and not item.reply.done():
                # Answered now: the MQTT sink waits for it before reading the next command.
                item.reply.set_result(REFUSED_QUEUE_FULL)
            return
        self._rouse()

    def submit_command(self, engine_input: SessionCmd | Ack) -> None:
        self.submit(QueuedCommand(engine_input))

    async def command(self, engine_input: SessionCmd | Ack) -> str | None:
        """Apply a command in order with the readings; returns an error text or None."""
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.submit(QueuedCommand(engine_input, fut))
        return await fut

    async def wait_for(self, pred: Callable[[], bool], wait_s: float) -> bool:
        """Wait until `pred()` holds, now or after some batch was processed (or `wait_s`
        passed)."""
        if pred():
            return True
        entry = (pred, asyncio.get_running_loop().create_future())
        self._progress.append(entry)
        try:
            # `within`, not asyncio.wait_for: in 3.11 that loses a stop that comes in the
            # turn the batch is processed, and the scenario player played on (aio.py).
            await within(entry[1], wait_s)
        except TimeoutError:
            return False
        finally:
            self._progress.remove(entry)
        return True

    async def wait_ticked(self, t: float, wait_s: float) -> bool:
        self._rouse()
        return await self.wait_for(lambda: self.ticked_to >= t, wait_s)

    def wake(self) -> None:
        """The clock moved (the player announced a new event time): re-plan timers."""
        self._rouse()

    def _rouse(self) -> None:
        """End the chair task's idle wait (a no-op while it is busy: it looks at the queue
        and the timers again before it waits)."""
        self._doze.rouse()

    # -- the chair task --------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self.last_beat = time.monotonic()
            # A wall-clock step moves no timer or run; the clock catches up when nothing runs.
            if msg := self.clock.follow(partial(self.engine.steady, self.cfg.id)):
                log.warning(f"{self.cfg.id}: {msg}")
            deadline = self.engine.next_deadline()
            timeout = 1.0  # heartbeat for the watchdog
            waiting = self._records.waiting_at()  # timers wait with the command (`process`)
            if deadline is not None and (waiting is None or deadline <= waiting):
                timeout = min(timeout, self.clock.wall_delay(deadline))
            held = self.history.next_due()  # a held burst of stored records ends
            if held is not None:
                timeout = min(timeout, held - time.monotonic() + 0.01)
            batch: list[Item] = []
            if self.queue.empty():
                # One future, set by `submit`/`wake` or the timer: a reading reaches the
                # engine in one loop turn. Before (issue 20), `asyncio.wait` on a fresh
                # `queue.get()` task and an event-wait task took three turns and two
                # tasks per wake-up, on every alarm's path.
                await self._doze(timeout)
            while len(batch) < 1000:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                self.process(batch)
            except Exception as e:  # then the supervisor logs it and restarts this task
                # Its commands answered, and what the engine did in it (an alarm raised, an
                # ACK taken) stored and shown at the restart's first turn, not when some
                # later event happens to show the set (minutes: never, if none).
                self._carried = self._hand.crashed(self.cfg.id, e)
                raise

    def _take(self, batch: list[Item]) -> InHand:
        """The batch in hand, with what a batch that raised before it had done."""
        self._hand, self._carried = self._carried or InHand(), None
        self._hand.items = batch
        return self._hand

    def process(self, batch: list[Item]) -> None:
        hand = self._take(batch)
        store = self.store
        out = StoreBatch(self.cfg.id)
        held = self.engine.held(self.cfg.id)
        hand.items = items = self._records.sort(batch, self.closing)
        events, sessions, replies = hand.events, hand.sessions, hand.replies
        readings: list[Reading] = []
        # Readings go to the outbox in runs that share a session id (one executemany per
        # run, arrival order kept); the session a reading belongs to is the one current
        # when it arrives, so a run ends where a session event changes it.
        run: list[Reading] = []
        run_sess: str | None = None
        for item in items:
            if isinstance(item, Reading):
                sess = self.engine.session(self.cfg.id)
                sid = sess["session_id"] if sess else None
                if run and sid != run_sess:
                    out.runs.append((run, run_sess))
                    run = []
                run_sess = sid
                kept = judged(item)  # stored and shown `valid: false` if implausible
                run.append(kept)
                readings.append(kept)
                st = self.devices.get(item.device)
                if st is not None:
                    st.readings += 1
                    st.stored += item.stored
                    if not item.stored:
                        st.last = kept.to_json()
                        st.invalid += not kept.valid or kept.contact is False
                if not item.stored:  # history: stored and reported, fed to no rule
                    events += self._feed(sample_from_reading(item))
            elif isinstance(item, LinkChange) and item.retired:
                log.warning(
                    f"{self.cfg.id}/{item.device}: no longer in this chair's config (removed "
                    "or renamed): its link is not watched; its tech.device_lost, if any, cleared"
                )
                events += self._feed(Link(item.t, self.cfg.id, item.device, True, True))
            elif isinstance(item, LinkChange):
                st = self.devices.get(item.device)
                if st is not None and st.link == ("up" if item.up else "down"):
                    told, st.link_reason = st.link_reason, item.reason or st.link_reason
                    # A down's new cause (its advice) goes to `monitord status` at once;
                    # the transports repeat a down only when its cause changed.
                    if not item.up and st.link_reason != told and self.on_link is not None:
                        self.on_link(f"{self.cfg.id}/{item.device}")
                    continue  # transports may repeat themselves; the engine sees changes
                if st is not None:
                    st.link, st.link_reason = ("up" if item.up else "down"), item.reason
                log.info(
                    f"{self.cfg.id}/{item.device}: link {'up' if item.up else 'down'}"
                    + (f" ({item.reason})" if item.reason else "")
                )
                if self.on_link is not None:
                    self.on_link(f"{self.cfg.id}/{item.device}")
                events += self._feed(Link(item.t, self.cfg.id, item.device, item.up))
            else:
                if store.holding:
                    # The store cannot take it now: refused unapplied and answered at once,
                    # never left waiting on the disk (monitord/storeguard.py).
                    answer = refused(store.trouble())
                    log.info(f"{self.cfg.id}: command refused: {answer}")
                    if item.reply is not None and not item.reply.done():
                        item.reply.set_result(answer)
                    continue
                inp = item.engine_input
                before = self.engine.session(self.cfg.id)
                err: str | None = None
                if isinstance(inp, SessionCmd):
                    err = self._guard.check(inp, before)
                if err is None:  # a command for another session never reaches the engine
                    evs, err = self._feed_checked(inp)
                    events += evs
                    if isinstance(inp, SessionCmd) and inp.action == "end" and err is None:
                        if before:  # ended at the engine's time (`_feed_checked`)
                            self._guard.ended(str(before["session_id"]), self._engine_t)
                if isinstance(inp, SessionCmd) and err is None:
                    # `end` closes the session: its record names the session it ended.
                    sess = self.engine.session(self.cfg.id) or before or {}
                    sessions.append(
                        SessionEvent(
                            inp.t,
                            self.cfg.id,
                            inp.action,
                            str(sess.get("protocol") or self.cfg.protocol),
                            str(sess.get("session_id") or inp.session_id or ""),
                            by=inp.by,
                            dose_mg=inp.dose_mg,
                            lot=inp.lot,
                        )
                    )
                elif err is not None:  # an ACK after a colleague's is INFO (refusal_level)
                    log.log(refusal_level(err), f"{self.cfg.id}: command refused: {err}")
                if item.reply is not None:
                    replies.append((item.reply, err))
        horizon = self.clock.horizon()
        waiting = self._records.waiting_at()
        if waiting is not None:
            # A session command waits for a held burst (chair_records.py): the timers
            # due after it wait too, not fired in the session it ends (an overdue BP of
            # the patient gone) or before the one it starts.
            horizon = min(horizon, waiting)
        if horizon > self.ticked_to:
            events += self.engine.advance(horizon)
            self.ticked_to = horizon
            self._engine_t = max(self._engine_t, horizon)
        if run:
            out.runs.append((run, run_sess))
        # A wall step stored now, also on a heartbeat: a crash then took it for time down.
        stepped = isinstance(self.clock, WallClock) and self.clock.row_stale()
        if not items and not events and not hand.resync and not stepped:
            # A heartbeat or a timer with nothing to say: nothing to store or show, but the
            # clock moved (the scenario player may be waiting for that).
            self._notify()
            return
        out.events, out.sessions = events, sessions
        # The active set changes with every alert and session event, and silently when a
        # latched alert's clear condition starts or stops holding (`clear_pending`): that
        # too must reach `alerts/active` and status, and the snapshot (design.md section 6).
        shown = bool(events or sessions) or self.engine.held(self.cfg.id) != held or hand.resync
        now = time.monotonic()
        changed = any(not isinstance(i, Reading) or i.kind == Kind.BP for i in items)
        if shown or changed or stepped or now - self._last_snapshot > SNAPSHOT_EVERY_S:
            out.state[f"engine/{self.cfg.id}"] = self.engine.snapshot()
            if isinstance(self.clock, WallClock):  # the next start's clock begins no earlier
                out.state[f"clock/{self.cfg.id}"] = self.clock.row()
            else:  # a next run's virtual clock starts after it (monitord/simstart.py)
                out.state[sim_key(self.cfg.id)] = {"t": self.clock.now()}
            self._last_snapshot = now
        if self.history.dirty:  # in the same transaction as the BP reading itself
            out.state[f"bp-seen/{self.cfg.id}"] = self.history.seen_keys()
            self.history.dirty = False

        # The active set, session and their chair time as of this batch, taken now (the
        # engine's time, not the commit's): by the time its commit returns the engine may
        # have gone on with later batches, whose alarms must not show before their events
        # are stored, nor read older than this set when it is replayed (hub.py `t`).
        active = self.engine.active(self.cfg.id) if shown else None
        session = self.engine.session_info(self.cfg.id) if shown else None
        as_of = self._engine_t  # finite: the clock's horizon advanced it above
        self._sets += shown
        n = self._sets

        def stored() -> None:
            # Durable from here on: show it to the world.
            new = self._show(n, active)
            self.hub.publish(
                CommittedBatch(
                    self.cfg.id,
                    as_of,
                    readings,
                    events,
                    sessions,
                    active if new else None,
                    session=session if new else None,
                    stored=out.alerts,
                )
            )
            for fut, err in replies:
                if not fut.done():
                    fut.set_result(err)

        out.done = stored
        out.urgent = bool(replies)  # a nurse waits for the answer: no group-commit delay
        # Told later if a commit the writer thread tries fails (the disk is full).
        out.held = lambda: self._held(
            events, sessions, replies, active, session, as_of, n, dropped=out.dropped
        )
        self._hand = InHand(items)  # the store's from here: its `done` or `held` answers
        if not store.write(out):
            self._held(events, sessions, replies, active, session, as_of, n)
        self.processed += len(batch)
        self._notify()

    def _feed(self, inp: EngineInput) -> list[AlertEvent]:
        return self._feed_checked(inp)[0]

    def _feed_checked(self, inp: EngineInput) -> tuple[list[AlertEvent], str | None]:
        """The engine's clock never steps back (clinical-rules.md "Delivery of alarms"): an
        input stamped before what the engine has already reached is taken at that time.
        Such an input is a BP record held while its connection's burst was sorted
        (monitord/history.py): up to BURST_GAP_S after it was received, other devices'
        samples and the clock's ticks have moved the engine on. Fed at its receive time,
        its events went back in time (a `cleared` before the `raised` it ends) and it could
        restart an overdue clock in the past."""
        if inp.t < self._engine_t:
            inp = replace(inp, t=self._engine_t)
        self._engine_t = inp.t
        return self.engine.feed_checked(inp)

    def drain(self) -> None:
        """At shutdown, once inputs are stopped: process what is still queued; a held
        burst of stored records resolves now."""
        batch: list[Item] = []
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        self.closing = True
        if batch or self.history.holding:
            self.process(batch)

    def resume_state(self) -> dict[str, Any]:
        """State keys a restart resumes this chair from (as each batch also stores them)."""
        out: dict[str, Any] = {f"engine/{self.cfg.id}": self.engine.snapshot()}
        if isinstance(self.clock, WallClock):  # the next start's clock begins no earlier
            out[f"clock/{self.cfg.id}"] = self.clock.row()
        else:
            out[sim_key(self.cfg.id)] = {"t": self.clock.now()}
        out[f"bp-seen/{self.cfg.id}"] = self.history.seen_keys()
        return out

    def _held(
        self,
        events: list[AlertEvent],
        sessions: list[SessionEvent],
        replies: list[tuple[asyncio.Future[str | None], str | None]],
        active: list[dict[str, Any]] | None,
        session: dict[str, Any] | None,
        as_of: float,
        n: int,
        *,
        dropped: bool = False,
    ) -> None:
        """The store could not take this batch (held in memory, or `dropped` for a bug:
        monitord/storeguard.py): its alarms still show live (the active set as of this
        batch, at `as_of`: see `process`); its commands are answered now.

        Shown whenever the batch changed what the station shows (`active` is set), not
        only with alert events: a nurse's session command answered "applied, not stored"
        (dose start, end of observation) or a latched alert's clear starting or ceasing
        to hold changes the tile's phase and timers or the set's `state`. Held back until
        the disk took a batch, the station showed the old phase and set for as long as
        the disk was full."""
        cause = self.store.trouble()
        for fut, err in replies:
            if not fut.done():
                fut.set_result(err or (APPLIED_DROPPED if dropped else not_stored(cause)))
        new = self._show(n, active)
        if new or events or sessions:  # an older set is not shown; its events still are
            self.hub.publish(
                CommittedBatch(
                    self.cfg.id,
                    as_of,
                    events=events,
                    sessions=sessions,
                    active=active if new else None,
                    durable=False,
                    session=session if new else None,
                )
            )

    def _show(self, n: int, active: list[dict[str, Any]] | None) -> bool:
        """Whether batch `n`'s active set is to be shown (then it is the chair's now): not
        when a newer batch's was (held, shown live before this one was stored: stepped
        back, the station and status showed the older set until the newer was stored)."""
        if active is None or n < self._shown:
            return False
        self._shown, self.active = n, active
        return True

    def _notify(self) -> None:
        """A batch was processed: wake the `wait_for` callers whose condition now holds
        (at once, not from a task per batch: that was a loop turn behind every alarm)."""
        for pred, fut in self._progress:
            if fut.done():
                continue
            try:
                if pred():
                    fut.set_result(None)
            except Exception as e:  # the caller's bug, raised in the caller, not here
                fut.set_exception(e)

    def status(self) -> dict[str, Any]:
        """The `chair/<id>` state that `monitord status` reads (see monitord/outbox.py)."""
        sess = self.engine.session(self.cfg.id) or {}
        return {
            "simulated": self.cfg.simulated,
            "phase": self.engine.phase(self.cfg.id),
            "protocol": sess.get("protocol", self.cfg.protocol),
            "session_id": sess.get("session_id"),
            "devices": {
                d.id: {
                    "driver": d.driver,
                    "link": d.link,
                    "reason": d.link_reason,
                    "readings": d.readings,
                    "stored": d.stored,
                    "invalid": d.invalid,
                    "rejects": dict(d.rejects),
                }
                for d in self.devices.values()
            },
            "active_alerts": self.active,
            "queue_overflow": self.overflow,
            "duplicate_bp_ignored": self.history.repeats,
            "stored_records": self.history.stored,
        }


def load_seen(ob: Outbox, chair: str) -> list[str]:
    """The BP measurements a real chair has already taken (kept with its snapshot)."""
    keys, lost = upgrade_keys(
        ob.get_state(f"bp-seen/{chair}", []),
        lambda: ob.recent_readings(chair, Kind.BP, 1024),
    )
    if lost:
        log.warning(
            f"{chair}: {lost} remembered BP measurement(s) of an older format not "
            "found in the store; a device re-sending them is taken once more"
        )
    return keys


__all__ = [
    "ChairRuntime",
    "DeviceCtx",
    "DeviceStatus",
    "Item",
    "LinkChange",
    "QueuedCommand",
    "load_seen",
    "steady",
]
