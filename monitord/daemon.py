"""The daemon: chairs, device links, the hub and the sinks under one supervisor.

Per chair, one task owns the chair's alert engine and its input queue. Device transports
(serial, BLE) and the scenario player of a simulated chair put inputs on that queue; the
chair task drains it in batches and, per batch, in one SQLite transaction: stores each
reading, feeds the engine, stores the alert and session events it produced and the
engine's snapshot, commits, and only then shows the results to anyone else (MQTT live
vitals, alerts, console) and wakes the sinks. So nothing is acknowledged before it is
durable, and a restart resumes the engine exactly where the last commit left it. When the
disk cannot take a batch (full), its output is held in memory and retried, never dropped
(monitord/storeguard.py); the store is opened, locked and repaired by monitord/storeopen.py.

    transports --(Reading, link up/down)--> ChairRuntime.queue --> engine --> outbox
    MQTT commands / player --(session, ack)--^                  \\-> live MQTT, console
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from drivers.base import Reject
from monitord import __version__
from monitord.clock import SimClock, WallClock
from monitord.config import ChairConfig, Config
from monitord.delivery import DeliveryWatch
from monitord.engine import AlertEngine
from monitord.engine.inputs import Ack, Link, SessionCmd, sample_from_reading
from monitord.engine.rules import RuleSet
from monitord.history import StoredRecords, upgrade_keys
from monitord.log import FailureLog
from monitord.models import AlertEvent, Kind, Reading, SessionEvent, iso, utc
from monitord.sdnotify import Notifier, watchdog_interval_s
from monitord.sinks.commands import Command, engine_input
from monitord.storeguard import APPLIED_NOT_STORED, REFUSED_STORE_FULL, StoreBatch, StoreGuard
from monitord.storeopen import lock_store, open_store
from monitord.supervisor import Supervisor, TaskState
from monitord.techalarm import TechAlarms

log = logging.getLogger("monitord")

QUEUE_MAX = 10_000  # per chair; ~3 h of 1 Hz HR+SpO2 for a stalled chair task
SNAPSHOT_EVERY_S = 2.0  # engine state is also saved at once whenever it emitted events


@dataclass
class LinkChange:
    device: str
    up: bool
    t: float
    reason: str = ""


@dataclass
class QueuedCommand:
    """A session action or an acknowledgement, from MQTT, the CLI or the scenario player."""

    engine_input: SessionCmd | Ack
    reply: asyncio.Future[str | None] | None = None


Item = Reading | LinkChange | QueuedCommand


@dataclass
class DeviceStatus:
    id: str
    driver: str
    # up | down; "unknown" until the first report, so that the daemon's own "not connected
    # yet" at start is a change the engine sees (it starts the device_lost timer).
    link: str = "unknown"
    link_reason: str = ""
    readings: int = 0
    stored: int = 0  # of `readings`: records pushed from the device's memory (history)
    rejects: Counter[str] = field(default_factory=Counter)
    last: dict[str, Any] | None = None


class DeviceCtx:
    """`drivers.base.DeviceContext` for one device of one chair."""

    def __init__(self, chair: ChairRuntime, device: str) -> None:
        self.chair_rt = chair
        self.chair = chair.cfg.id
        self.device = device
        self._flog = FailureLog(log, f"{self.chair}/{device}")

    def emit(self, reading: Reading) -> None:
        self.chair_rt.submit(reading)

    def reject(self, reject: Reject) -> None:
        st = self.chair_rt.devices[self.device]
        st.rejects[str(reject.reason)] += 1
        # Counted always; logged WARNING once per reason, then DEBUG (house rule).
        self._flog.failure(
            str(reject.reason), f"rejected data: {reject.detail} (counted and skipped)"
        )

    def now(self) -> datetime:
        return utc(self.chair_rt.clock.now())

    def link(self, up: bool, reason: str = "") -> None:
        self.chair_rt.submit(LinkChange(self.device, up, self.chair_rt.clock.now(), reason))


class ChairRuntime:
    def __init__(
        self,
        cfg: ChairConfig,
        daemon: Daemon,
        engine: AlertEngine,
        clock: WallClock | SimClock,
    ) -> None:
        self.cfg = cfg
        self.daemon = daemon
        self.engine = engine
        self.clock = clock
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_MAX)
        self.overflow = 0
        self.processed = 0
        self._progress = asyncio.Condition()
        self.ticked_to = -math.inf
        self.last_beat = time.monotonic()
        self.devices = {d.id: DeviceStatus(d.id, d.driver) for d in cfg.devices}
        self.active: list[dict[str, Any]] = []
        self._last_snapshot = 0.0
        # Stored records and repeats (monitord/history.py): BP measurements already taken
        # (device, device time, values) are kept with the engine snapshot, so an IntelliVue
        # re-polled or a cuff re-pushing its memory after a restart cannot confirm a BP
        # rule twice. A simulated chair starts afresh like its engine.
        self.history = StoredRecords(() if cfg.simulated else self._load_seen())
        self.closing = False  # shutdown: held bursts resolve now
        self._repeat_logged: set[str] = set()
        self._wake = asyncio.Event()

    def _load_seen(self) -> list[str]:
        ob = self.daemon.outbox
        keys, lost = upgrade_keys(
            ob.get_state(f"bp-seen/{self.cfg.id}", []),
            lambda: ob.recent_readings(self.cfg.id, Kind.BP, 1024),
        )
        if lost:
            log.warning(
                f"{self.cfg.id}: {lost} remembered BP measurement(s) of an older format not "
                "found in the store; a device re-sending them is taken once more"
            )
        return keys

    @property
    def duplicates(self) -> int:
        """BP repeats dropped (same device time and values as one already taken)."""
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

    def submit_command(self, engine_input: SessionCmd | Ack) -> None:
        self.submit(QueuedCommand(engine_input))

    async def command(self, engine_input: SessionCmd | Ack) -> str | None:
        """Apply a command in order with the readings; returns an error text or None."""
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.submit(QueuedCommand(engine_input, fut))
        return await fut

    async def wait_for(self, pred: Callable[[], bool], wait_s: float) -> bool:
        """Wait until `pred()` holds after some batch was processed (or `wait_s` passed)."""
        async with self._progress:
            try:
                await asyncio.wait_for(self._progress.wait_for(pred), wait_s)
            except TimeoutError:
                return False
        return True

    async def wait_ticked(self, t: float, wait_s: float) -> bool:
        self._wake.set()
        return await self.wait_for(lambda: self.ticked_to >= t, wait_s)

    def wake(self) -> None:
        """The clock moved (the player announced a new event time): re-plan timers."""
        self._wake.set()

    # -- the chair task --------------------------------------------------------------
    async def run(self) -> None:
        while True:
            self.last_beat = time.monotonic()
            # A wall-clock step moves no timer; the chair clock catches up when idle.
            if msg := self.clock.follow(self.engine.next_deadline(self.cfg.id) is None):
                log.warning(f"{self.cfg.id}: {msg}")
            deadline = self.engine.next_deadline()
            timeout = 1.0  # heartbeat for the watchdog
            if deadline is not None:
                timeout = min(timeout, self.clock.wall_delay(deadline))
            held = self.history.next_due()  # a held burst of stored records ends
            if held is not None:
                timeout = min(timeout, held - time.monotonic() + 0.01)
            batch: list[Item] = []
            if self.queue.empty():
                self._wake.clear()
                getter = asyncio.ensure_future(self.queue.get())
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {getter, waker},
                        timeout=max(timeout, 0.0),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waker.cancel()
                    if getter.done():
                        batch.append(getter.result())
                    else:
                        getter.cancel()
            while len(batch) < 1000:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self.process(batch)

    def process(self, batch: list[Item]) -> None:
        store = self.daemon.store
        out = StoreBatch(self.cfg.id)
        items = self._sort_stored(batch)
        events: list[AlertEvent] = []
        sessions: list[SessionEvent] = []
        readings: list[Reading] = []
        replies: list[tuple[asyncio.Future[str | None], str | None]] = []
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
                run.append(item)
                readings.append(item)
                st = self.devices.get(item.device)
                if st is not None:
                    st.readings += 1
                    st.stored += item.stored
                    if not item.stored:
                        st.last = item.to_json()
                if not item.stored:  # history: stored and reported, fed to no rule
                    events += self.engine.feed(sample_from_reading(item))
            elif isinstance(item, LinkChange):
                st = self.devices.get(item.device)
                if st is not None and st.link == ("up" if item.up else "down"):
                    continue  # transports may repeat themselves; the engine sees changes
                if st is not None:
                    st.link, st.link_reason = ("up" if item.up else "down"), item.reason
                log.info(
                    f"{self.cfg.id}/{item.device}: link {'up' if item.up else 'down'}"
                    + (f" ({item.reason})" if item.reason else "")
                )
                events += self.engine.feed(Link(item.t, self.cfg.id, item.device, item.up))
            else:
                if store.holding:
                    # The store cannot take it now: refused unapplied and answered at once,
                    # never left waiting on the disk (monitord/storeguard.py).
                    log.info(f"{self.cfg.id}: command refused: {REFUSED_STORE_FULL}")
                    if item.reply is not None and not item.reply.done():
                        item.reply.set_result(REFUSED_STORE_FULL)
                    continue
                inp = item.engine_input
                before = self.engine.session(self.cfg.id)
                evs, err = self.engine.feed_checked(inp)
                events += evs
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
                        )
                    )
                elif err is not None:
                    log.warning(f"{self.cfg.id}: command refused: {err}")
                if item.reply is not None:
                    replies.append((item.reply, err))
        horizon = self.clock.horizon()
        if horizon > self.ticked_to:
            events += self.engine.advance(horizon)
            self.ticked_to = horizon
        if run:
            out.runs.append((run, run_sess))
        if not items and not events:
            # A heartbeat or a timer with nothing to say: nothing to store or show, but the
            # clock moved (the scenario player may be waiting for that).
            asyncio.get_running_loop().create_task(self._notify())
            return
        out.events, out.sessions = events, sessions
        now = time.monotonic()
        if events or sessions or now - self._last_snapshot > SNAPSHOT_EVERY_S:
            out.state[f"engine/{self.cfg.id}"] = self.engine.snapshot()
            if isinstance(self.clock, WallClock):  # the next start's clock begins no earlier
                out.state[f"clock/{self.cfg.id}"] = self.clock.now()
            self._last_snapshot = now
        if self.history.dirty:  # in the same transaction as the BP reading itself
            out.state[f"bp-seen/{self.cfg.id}"] = self.history.seen_keys()
            self.history.dirty = False

        def stored() -> None:
            # Durable from here on: show it to the world.
            self.daemon.after_commit(self, readings, events, sessions)
            for fut, err in replies:
                if not fut.done():
                    fut.set_result(err)

        out.done = stored
        if not store.write(out):
            self._held(events, replies)
        self.processed += len(batch)
        if items or events:
            asyncio.get_running_loop().create_task(self._notify())

    def _sort_stored(self, batch: list[Item]) -> list[Item]:
        """The batch with repeats dropped, connection bursts held back until they end,
        and ended bursts put in (their history marked `stored`), see monitord/history.py."""
        mono = time.monotonic()
        out: list[Item] = []
        for item in batch:
            if isinstance(item, Reading):
                ready, repeat = self.history.offer(item, mono)
                if repeat:
                    self._log_repeat(item)
                out += ready
                continue
            if isinstance(item, LinkChange):
                out += self.history.link(item.device, item.up, mono)
                self._repeat_logged.discard(item.device)
            out.append(item)
        out += self.history.flush() if self.closing else self.history.due(mono)
        return out

    def _log_repeat(self, r: Reading) -> None:
        # Counted always (status); told once per device and connection, then DEBUG: a
        # cuff re-pushes its whole memory on every connection.
        text = (
            f"{self.cfg.id}/{r.device}: BP {_fmt_values(r)} measured at "
            f"{r.device_time.isoformat() if r.device_time else '?'} already taken; repeat "
            f"ignored ({self.history.repeats} so far)"
        )
        if r.device in self._repeat_logged:
            log.debug(text)
        else:
            self._repeat_logged.add(r.device)
            log.info(text)

    def _held(
        self, events: list[AlertEvent], replies: list[tuple[asyncio.Future[str | None], str | None]]
    ) -> None:
        """The store could not take this batch (held in memory, monitord/storeguard.py):
        its alarms still show live; its commands are answered now."""
        for fut, err in replies:
            if not fut.done():
                fut.set_result(err or APPLIED_NOT_STORED)
        if events:
            self.active = self.engine.active(self.cfg.id)
            if self.daemon.mqtt is not None:
                self.daemon.mqtt.set_active(self.cfg.id, self.active, self.clock.now())
            if self.daemon.console is not None:
                for e in events:
                    self.daemon.console(_fmt_event(e) + " (NOT STORED YET)")

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

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
                    "rejects": dict(d.rejects),
                }
                for d in self.devices.values()
            },
            "active_alerts": self.active,
            "queue_overflow": self.overflow,
            "duplicate_bp_ignored": self.history.repeats,
            "stored_records": self.history.stored,
        }


class Daemon:
    def __init__(
        self,
        cfg: Config,
        *,
        console: Callable[[str], None] | None = None,
        notifier: Notifier | None = None,
        stop_when_played: bool = False,
        restart_backoff_s: tuple[float, float] = (1.0, 60.0),
        ble_backends: tuple[type, type] | None = None,
    ) -> None:
        self.cfg = cfg
        # (client, scanner) bleak backends for real (non-simulated) BLE devices; None is
        # the platform's (BlueZ). Tests put such devices on a simulated link with these.
        self.ble_backends = ble_backends
        self.console = console
        self.notifier = notifier or Notifier()
        self.stop_when_played = stop_when_played
        self.restart_backoff_s = restart_backoff_s
        self.stop_event = asyncio.Event()
        # One daemon per store (exit 75 otherwise), then a usable store whatever the file
        # holds (monitord/storeopen.py); technical alarms are kept beside it.
        self.alarms = TechAlarms(console)
        self.store_lock = lock_store(Path(cfg.storage.path))
        try:
            self.alarms.attach(Path(cfg.storage.path))
            self.outbox = open_store(cfg.storage, self.alarms)
        except BaseException:
            self.store_lock.release()
            self.alarms.close()
            raise
        self.store = StoreGuard(self.outbox, self.alarms)
        self.rules = RuleSet.from_overrides(cfg.alerts)
        self.chairs: dict[str, ChairRuntime] = {}
        self.sinks: list[Any] = []
        self.mqtt: Any = None
        self.supervisor: Supervisor | None = None
        self.crashes: list[TaskState] = []
        self._status_written = 0.0
        self.started = time.time()
        self._players_done = 0
        sim_start = float(int(time.time()))  # whole seconds: device clocks have 1-s fields
        for c in cfg.chairs:
            # A real chair resumes its alarms across a restart; a simulated chair replays its
            # scenario from the start on a fresh virtual clock, so it starts afresh too.
            snap = None if c.simulated else self.outbox.get_state(f"engine/{c.id}")
            clock: WallClock | SimClock = (
                SimClock(sim_start, c.speed)
                if c.simulated
                else WallClock(floor=self.outbox.get_state(f"clock/{c.id}"))
            )
            if snap:
                engine = AlertEngine.restore(snap, self.rules)
                engine.resume(clock.now())  # escalations missed while down: not replayed
            else:
                engine = AlertEngine(self.rules, {c.id: c.protocol})
            self.chairs[c.id] = ChairRuntime(c, self, engine, clock)

    # -- results ---------------------------------------------------------------------
    def after_commit(
        self,
        chair: ChairRuntime,
        readings: list[Reading],
        events: list[AlertEvent],
        sessions: list[SessionEvent],
    ) -> None:
        if self.mqtt is not None:
            for r in readings:
                if not r.stored:  # live vitals only: a memory record is not the patient now
                    self.mqtt.publish_vitals(r)
        if events or sessions:
            chair.active = chair.engine.active(chair.cfg.id)
            if self.mqtt is not None:
                self.mqtt.set_active(chair.cfg.id, chair.active, chair.clock.now())
        for s in self.sinks:
            s.wake()
        if self.console is not None:
            for r in readings:
                self.console(_fmt_reading(r))
            for s in sessions:
                self.console(
                    f"{iso(s.t)} {s.chair} session {s.action} ({s.protocol}, {s.session_id})"
                )
            for e in events:
                self.console(_fmt_event(e))
        now = time.monotonic()
        if now - self._status_written > 1.0:
            self.write_status()

    def write_status(self) -> None:
        self._status_written = time.monotonic()
        if self.store.holding:
            return  # the disk is full: status shows the alarm side file instead

        def put() -> None:
            for c in self.chairs.values():
                self.outbox.put_state(f"chair/{c.cfg.id}", c.status(), commit=False)
            self.outbox.put_state("daemon", self.status(), commit=False)

        self.store.try_write(put)

    def status(self) -> dict[str, Any]:
        """The `daemon` state: who is running and how its supervised tasks are doing."""
        tasks = self.supervisor.tasks.values() if self.supervisor else []
        return {
            "pid": os.getpid(),
            "started": iso(self.started),
            "version": __version__,
            "site": self.cfg.site.id,
            "summary": self.summary(),
            "tasks": [
                {
                    "name": t.name,
                    "state": t.state,
                    "restarts": t.restarts,
                    "last_error": t.last_error,
                }
                for t in tasks
                if t.restarts or t.state != "running"
            ],
        }

    def summary(self) -> str:
        up = sum(d.link == "up" for c in self.chairs.values() for d in c.devices.values())
        total = sum(len(c.devices) for c in self.chairs.values())
        active = sum(len(c.active) for c in self.chairs.values())
        crashed = sum(t.state == "backoff" for t in self.crashes)
        return (
            f"{len(self.chairs)} chair(s), {up}/{total} device link(s) up, "
            f"{active} active alert(s)"
            + (f", {crashed} task(s) restarting" if crashed else "")
            + (f"; {self.alarms.summary()}" if self.alarms.active else "")
        )

    def _on_crash(self, st: TaskState) -> None:
        if st not in self.crashes:
            self.crashes.append(st)
        self.notifier.status(
            self.summary() + f"; {st.name} crashed {st.restarts}x: {st.last_error}"
        )
        if self.console is not None:
            self.console(
                f"!! task {st.name} crashed ({st.last_error}); restart {st.restarts} "
                f"in {st.last_delay_s:.1f}s"
            )

    # -- commands from MQTT ----------------------------------------------------------
    async def on_command(self, chair_id: str, cmd: Command) -> str | None:
        """A screened MQTT command (sinks/commands.py), typed end to end."""
        chair = self.chairs.get(chair_id)
        if chair is None:
            return f"unknown chair {chair_id!r}"
        return await chair.command(engine_input(cmd, chair.clock.now(), chair_id))

    # -- lifecycle -------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        default_handler = loop.get_exception_handler()

        def on_loop_error(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # Library callbacks racing with our own teardown (bumble's HCI host on a closed
            # virtual link) are noise once stopping; before that they are real errors.
            if self.stop_event.is_set():
                log.debug(f"after stop: {context.get('message')}: {context.get('exception')!r}")
            elif default_handler is not None:
                default_handler(lp, context)
            else:
                lp.default_exception_handler(context)

        loop.set_exception_handler(on_loop_error)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop_event.set)
        try:
            async with asyncio.TaskGroup() as tg:
                sup = Supervisor(
                    tg,
                    on_crash=self._on_crash,
                    backoff_initial_s=self.restart_backoff_s[0],
                    backoff_cap_s=self.restart_backoff_s[1],
                )
                self.supervisor = sup
                await self._start(sup)
                tg.create_task(self._watchdog(), name="watchdog")
                self.notifier.ready(self.summary())
                log.info(f"monitord {__version__} ready: {self.summary()}")
                await self.stop_event.wait()
                self.notifier.stopping()
                log.info("stopping")
                await self._shutdown(sup)
                raise _Stopped
        except* _Stopped:
            pass
        finally:
            self.store.close_report()
            self.outbox.close()
            self.store_lock.release()
            self.alarms.close()
            self.notifier.close()

    async def _start(self, sup: Supervisor) -> None:
        from monitord.devices import start_devices

        if self.cfg.mqtt.enabled:
            from monitord.sinks.mqtt import MqttSink

            self.mqtt = MqttSink(
                self.cfg.mqtt,
                self.cfg.site.id,
                list(self.chairs),
                self.outbox,
                self.on_command,
            )
            self.sinks.append(self.mqtt)
            sup.spawn("sink:mqtt", self.mqtt.run)
            watch = DeliveryWatch(
                self.cfg.mqtt.delivery_alarm_after_s,
                self.mqtt,
                lambda: any(c.active for c in self.chairs.values()),
                self.alarms,
            )
            sup.spawn("alarm:delivery", watch.run)
        if self.cfg.influx.enabled:
            from monitord.sinks.influx import InfluxSink

            influx = InfluxSink(self.cfg.influx, self.cfg.site.id, self.outbox)
            self.sinks.append(influx)
            sup.spawn("sink:influx", influx.run)
        sup.spawn("store", lambda: self.store.run(self.cfg.storage.prune_interval_s))
        for chair in self.chairs.values():
            sup.spawn(f"chair:{chair.cfg.id}", chair.run)
            if self.mqtt is not None:
                chair.active = chair.engine.active(chair.cfg.id)
                self.mqtt.set_active(chair.cfg.id, chair.active)
            await start_devices(self, chair, sup)

    def player_done(self) -> None:
        self._players_done += 1
        sims = sum(c.cfg.simulated for c in self.chairs.values())
        if self.stop_when_played and self._players_done >= sims:
            self.stop_event.set()

    async def _shutdown(self, sup: Supervisor) -> None:
        # 1. stop inputs (device links, players): cancelling them closes ports cleanly
        sup.cancel_prefixed("device:", "player:")
        await asyncio.sleep(0)
        # 2. persist what is in flight: drain every chair queue through the engine
        for chair in self.chairs.values():
            batch: list[Item] = []
            while not chair.queue.empty():
                batch.append(chair.queue.get_nowait())
            chair.closing = True  # a held burst of stored records resolves now
            if batch or chair.history.holding:
                chair.process(batch)
            if self.store.flush():
                self.store.try_write(functools.partial(self._put_snapshot, chair))
        self.write_status()
        # 3. the MQTT sink publishes `offline` when it is cancelled, next (bounded to 2 s)

    def _put_snapshot(self, chair: ChairRuntime) -> None:
        self.outbox.put_state(f"engine/{chair.cfg.id}", chair.engine.snapshot(), commit=False)
        if isinstance(chair.clock, WallClock):  # the next start's clock begins no earlier
            self.outbox.put_state(f"clock/{chair.cfg.id}", chair.clock.now(), commit=False)
        self.outbox.put_state(f"bp-seen/{chair.cfg.id}", chair.history.seen_keys(), commit=False)

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        if interval is None:
            return
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(interval)
            lag = time.monotonic() - t0 - interval
            stale = [
                c.cfg.id
                for c in self.chairs.values()
                if time.monotonic() - c.last_beat > max(5.0, 4 * interval)
            ]
            # Ping only while the loop is responsive and every chair task is turning:
            # a wedged engine must let systemd restart us.
            if lag < interval and not stale:
                self.notifier.watchdog()
                self.notifier.status(self.summary())
            else:
                log.error(f"watchdog withheld: loop lag {lag:.2f}s, stale chairs {stale}")


class _Stopped(Exception):
    pass


def _fmt_reading(r: Reading) -> str:
    v = r.values
    if r.kind == "bp":
        text = f"BP {_n(v.get('sys_mmHg'))}/{_n(v.get('dia_mmHg'))} (MAP {_n(v.get('map_mmHg'))})"
    elif r.kind == "hr":
        text = f"HR {_n(v.get('hr_bpm'))}"
    else:
        text = f"SpO2 {_n(v.get('spo2_pct'))}% pulse {_n(v.get('pulse_bpm'))}"
    flags = ("" if r.valid else " INVALID") + (f" [{', '.join(r.flags)}]" if r.flags else "")
    if r.stored:
        dt = r.device_time.isoformat() if r.device_time else "unknown"
        flags += f" STORED record (device time {dt}; not fed to alarms)"
    return f"{iso(r.t)} {r.chair}/{r.device} {text}{flags}"


def _fmt_values(r: Reading) -> str:
    v = r.values
    return f"{_n(v.get('sys_mmHg'))}/{_n(v.get('dia_mmHg'))}"


def _n(x: float | None) -> str:
    return "--" if x is None else f"{x:g}"


def _fmt_event(e: AlertEvent) -> str:
    mark = {
        "raised": "!!",
        "escalated": "!!",
        "pending": " ?",
        "cleared": "ok",
        "acknowledged": "ack",
    }.get(e.event, "")
    lvl = f" level {e.level}" if e.level else ""
    return f"{mark} {iso(e.t)} {e.chair} {e.event.upper()}{lvl} {e.rule} [{e.priority}] {e.message}"


__all__ = ["ChairRuntime", "Daemon", "DeviceCtx"]
