"""The daemon: chairs, device links, the hub and the sinks under one supervisor.

Per chair, one task (monitord/chair.py) owns the chair's alert engine and its input queue,
commits each batch to the store and then publishes it on the hub (monitord/hub.py). The
daemon wires the rest as hub listeners: the MQTT sink (live vitals, active set, wake-up),
the InfluxDB writer's wake-up, the console and the status writer; none of them is named
by the chair. The store is opened, locked and repaired by monitord/storeopen.py; when
the disk is full, output is held and retried (monitord/storeguard.py).

    transports --(Reading, link up/down)--> ChairRuntime.queue --> engine --> outbox
    MQTT commands / player --(session, ack)--^                  \\-> hub -> listeners

Simulated chairs are played by a `SimulatedChairStarter` the entry point injects
(monitord/devices.py): `monitord/` imports nothing from `simulators/`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitord import __version__, certfiles, hangup, simstart, storememory, vitalsources
from monitord.annunciator import Annunciator, Pattern, decide, high_active
from monitord.chair import ChairRuntime, DeviceCtx, load_seen, steady
from monitord.clock import SimClock, WallClock, start_floor
from monitord.config import Config
from monitord.console import ConsoleListener
from monitord.delivery import FAILING_KEYS, DeliveryWatch, LaterLink
from monitord.devices import BleBackends, SimulatedChairStarter, start_real_devices
from monitord.engine import AlertEngine
from monitord.engine.rules import RuleSet
from monitord.gcpacer import pace as pace_gc
from monitord.hub import CommittedBatch, Hub
from monitord.models import iso
from monitord.outbox import Durability
from monitord.receipts import Receipts
from monitord.sdnotify import Notifier, StartExtender, pace_watchdog
from monitord.sinks.commands import Command, engine_input
from monitord.store import outages as outage_mod
from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storecheck import check_later
from monitord.storeguard import StoreGuard
from monitord.storeopen import lock_store, open_store
from monitord.storeroutes import route_queues
from monitord.storestall import StallWatch
from monitord.storestop import StoreStop
from monitord.supervisor import Supervisor, TaskState
from monitord.taskalarm import CRASH_ALARM, TaskAlarms
from monitord.taskalarm import failing as task_failing
from monitord.techalarm import TechAlarms

if TYPE_CHECKING:
    from monitord.sinks.influx import InfluxSink
    from monitord.sinks.mqtt import MqttSink

log = logging.getLogger("monitord")

# How often an idle daemon looks whether its status heartbeat is due.
ALIVE_POLL_S = 10.0
# A link's change is in status at once, but one that flaps (a loose plug, a driver bug)
# LINK_BURST times, then once per LINK_PROMPT_S; the rest with the group commits (issue 20).
LINK_BURST, LINK_PROMPT_S = 3.0, 10.0


class Daemon:
    def __init__(
        self,
        cfg: Config,
        *,
        console: Callable[[str], None] | None = None,
        notifier: Notifier | None = None,
        stop_when_played: bool = False,
        restart_backoff_s: tuple[float, float] = (1.0, 60.0),
        crash_alarm: tuple[int, float, float] = CRASH_ALARM,
        ble_backends: BleBackends | None = None,
        simulated: SimulatedChairStarter | None = None,
        command: str = "run",
    ) -> None:
        self.cfg = cfg
        self.command = command  # `run` or `demo`: the words of a SIGHUP's warning
        # Plays simulated chairs; given by the entry points that can (simulators/chair.py).
        self.simulated = simulated
        for c in cfg.chairs:
            if c.simulated and simulated is None:
                raise ValueError(
                    f"chair {c.id} is simulated, but this daemon was started without "
                    "simulators (pass simulated=monitord.simulators.chair.start_simulated_chair)"
                )
        # (client, scanner) bleak backends for real (non-simulated) BLE devices; None is
        # the platform's (BlueZ). Tests put such devices on a simulated link with these.
        self.ble_backends = ble_backends
        self.console = console
        self.notifier = notifier or Notifier()
        self.stop_when_played = stop_when_played
        self.restart_backoff_s = restart_backoff_s
        self.stop_event = asyncio.Event()
        # One daemon per store (else exit 75), usable whatever it holds (storeopen.py).
        self.alarms = TechAlarms(console)
        # (failures, healthy run, relapse window): the crash loop alarm (monitord/taskalarm.py)
        self._crash_alarm = crash_alarm
        self.task_alarms = TaskAlarms(self.alarms, crash_alarm[0], crash_alarm[2])
        self.store_lock = lock_store(Path(cfg.storage.path))
        try:
            self.alarms.attach(Path(cfg.storage.path))
            # A large store's migration may outlast the start timeout: EXTEND_TIMEOUT_USEC.
            extender = StartExtender(self.notifier) if self.notifier.enabled else None
            self.outbox = open_store(cfg.storage, self.alarms, extender)
            # When the previous run was last alive, read before this one writes anything.
            alive = (None, False) if self.outbox.memory else outage_mod.last_alive(self.outbox)
            storememory.carry(self.outbox, Path(cfg.storage.path))  # a time kept nowhere
        except BaseException:
            self.store_lock.release()
            self.alarms.close()
            raise
        # Records wait only for the sinks and chairs this config has; a disabled sink's or
        # a departed chair's leftover queue is released, and said (monitord/storeroutes.py).
        self.reached = route_queues(self.outbox, cfg)  # chairs the broker holds state of
        # Commits, marks, status and pruning run in a writer thread (issue 20): the loop
        # never waits for an fsync. A store in memory has none to wait for.
        self.writer = None if self.outbox.memory else StoreWriter()
        self.checkpointer: Checkpointer | None = None
        if self.writer is not None:
            self.checkpointer = Checkpointer(self.outbox.path)
            self.outbox.use_writer(self.writer.submit, self.checkpointer.kick)
        self.store = StoreGuard(
            self.outbox,
            self.alarms,
            self.writer,
            cfg.storage.commit_interval_s,
            checkpointer=self.checkpointer,
        )
        # A stop bounded however the disk is (a hung one is given up, saying what is lost).
        self.stopping = StoreStop(self.store, self.writer, self.checkpointer, self.store_lock)
        self.rules = RuleSet.from_overrides(cfg.alerts)
        self.chairs: dict[str, ChairRuntime] = {}
        # Every consumer of what the chairs commit listens here (subscribed in _start).
        self.hub = Hub()
        self.sinks: list[MqttSink | InfluxSink] = []
        self.mqtt: MqttSink | None = None
        self.influx: InfluxSink | None = None
        self.delivery: DeliveryWatch | None = None  # with MQTT: the delivery alarm
        # Station receipts and status (monitord/receipts.py), kept by the MQTT sink.
        self.receipts = Receipts(cfg.mqtt.receipt_timeout_s)
        self.receipts.restore(
            self.outbox.get_state("receipts"), time.monotonic(), [c.id for c in cfg.chairs]
        )
        self.receipts.on_change = lambda urgent: self.store.put_live(
            "receipts", self.receipts.state(), now=urgent
        )
        self.annunciator = Annunciator(cfg.annunciator, self.annunciator_pattern)
        if self.annunciator.configured:
            # What its pattern depends on tells it (it does not poll: issue 20).
            self.alarms.on_change = self.annunciator.poke
            self.receipts.on_stations = self.annunciator.poke
        self.supervisor: Supervisor | None = None
        self.crashes: list[TaskState] = []
        self._status_written = 0.0
        self._link_prompts: dict[str, tuple[float, float]] = {}  # link -> (tokens, when)
        self.started = time.time()
        self._players_done = 0
        # After what an earlier run's simulated chairs reached (monitord/simstart.py).
        self.sim_start = sim_start = simstart.sim_start(self.outbox, cfg.chairs, time.time())
        open_sessions: dict[str, outage_mod.Resumed] = {}
        for c in cfg.chairs:
            # A real chair resumes its alarms across a restart; a simulated chair replays its
            # scenario from the start on a fresh virtual clock, so it starts afresh too.
            snap = None if c.simulated else self.outbox.get_state(f"engine/{c.id}")
            engine = (
                AlertEngine.restore(snap, self.rules)
                if snap
                else AlertEngine(self.rules, {c.id: c.protocol})
            )
            idle = engine.idle(c.id)  # no session, timer or HR/SpO2 run going
            row = None if c.simulated else self.outbox.get_state(f"clock/{c.id}")
            clock: WallClock | SimClock = (
                SimClock(sim_start, c.speed)
                if c.simulated
                else WallClock(start_floor(row, engine.latest(c.id), c.id), alive[0], idle)
            )
            if snap and isinstance(clock, WallClock):
                resumed = clock.now()
                engine.resume(resumed)  # escalations missed while down: not replayed
                if (sess := engine.session(c.id)) is not None:
                    sid, known = str(sess["session_id"]), clock.downtime_known
                    open_sessions[c.id] = outage_mod.Resumed(sid, resumed, clock.down_from, known)
            seen = () if c.simulated else load_seen(self.outbox, c.id)
            self.chairs[c.id] = ChairRuntime(c, engine, clock, self.store, self.hub, seen)
            self.chairs[c.id].on_link = self._link_changed
        if not self.outbox.memory:
            keep_s = self.cfg.storage.retention_days * 86400.0
            rows = outage_mod.note_outages(self.outbox, alive, open_sessions, keep_s)
            self.store.try_write(functools.partial(outage_mod.put_rows, self.outbox, rows))

    # -- results ---------------------------------------------------------------------
    def _status_listener(self, batch: CommittedBatch) -> None:
        if batch.active is not None:  # an alarm raised or ended: status shows it with it
            self.write_status(now=True, only=batch.chair)
        elif batch.durable and time.monotonic() - self._status_written > 1.0:
            self.write_status()

    def write_status(self, final: bool = False, now: bool = False, only: str | None = None) -> None:
        """With the next group commit, and only what changed (SD-card writes, issue 20);
        `now`: an alarm or a link changed, which `monitord status` must show as it sounds,
        not a group commit later (one small NORMAL commit per change); `only`: that chair's
        row (rebuilding all 16 for one's change cost ~0.5 ms an alarm: bench/results.md)."""
        self._status_written = time.monotonic()  # also for `only`: the others' rows can wait
        if self.store.holding:
            return  # the disk is full: status shows the alarm side file instead
        for c in (self.chairs[only],) if only in self.chairs else self.chairs.values():
            st = c.status()
            # At stop, the last counts too (`monitord status` of a stopped daemon).
            self.store.put_live(f"chair/{c.cfg.id}", st, None if final else steady(st))
        self.store.put_live("daemon", self.status(), now=now)
        # Its constant signature: rewritten on the heartbeat, in the `daemon` row's commit.
        self.store.put_live(outage_mod.ALIVE_KEY, {"t": time.time()}, "alive")

    def status(self) -> dict[str, Any]:
        """The `daemon` state: who is running and how its supervised tasks are doing."""
        tasks = self.supervisor.tasks.values() if self.supervisor else []
        return {
            "pid": os.getpid(),
            "started": iso(self.started),
            "version": __version__,
            "site": self.cfg.site.id,
            "summary": self.summary(),
            "chairs": list(self.chairs),  # status tells a departed chair's row by it
            "prefix": self.cfg.mqtt.prefix,  # with `site`: the next start tells a new base
            **(self.delivery_status() if self.mqtt is not None else {}),
            "connections": self.connections(),
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

    def connections(self) -> dict[str, Any]:
        """Each sink's connection (sinks/linkstate.py), or that it is disabled: `monitord
        status` tells "no station open" from "this Pi cannot reach the broker"."""
        return {
            name: {"state": "disabled"} if sink is None else sink.link.as_dict()
            for name, sink in (("mqtt", self.mqtt), ("influx", self.influx))
        }

    def _link_changed(self, key: str) -> None:
        # A sink's or a device's link made or lost, or a new error (never per reading or
        # per retry of the same error): at once, in a small commit of its own.
        if not self.stop_event.is_set():
            at, (tokens, since) = time.monotonic(), self._link_prompts.get(key, (LINK_BURST, 0))
            tokens = min(LINK_BURST, tokens + (at - since) / LINK_PROMPT_S)
            self._link_prompts[key] = (tokens - (tokens >= 1), at)
            self.write_status(now=tokens >= 1, only=key.partition("/")[0] if "/" in key else None)

    def _reached_now(self, chair: str) -> None:
        # What the broker may keep of `chair` changed (a CONNACK, or its will refused): in the
        # store at once, in a small commit (a Pi losing power before the next status write
        # lost it: monitord/storeroutes.py). At most a few times a chair a run.
        if chair not in self.reached and not self.stop_event.is_set():
            self.write_status(now=True, only=chair)

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

    def delivery_status(self) -> dict[str, Any]:
        """Stations online, receipts, refusals and the annunciator (`monitord status`)."""
        out: dict[str, Any] = self.receipts.status()
        if self.mqtt is not None:  # sticky: a departed one is said by it (storeroutes.py)
            out["reached_broker"] = sorted(self.reached | self.mqtt.reached())
        if self.mqtt is not None and self.mqtt.refusals():
            out["publish_refused"] = self.mqtt.refusals()
        if self.annunciator.configured:
            out["annunciator"] = self.annunciator.pattern
            out.update(self.annunciator.faults())  # the pattern sounds on nothing there
        return out

    def annunciator_pattern(self) -> Pattern:
        actives = [c.active for c in self.chairs.values()]
        return decide(
            failing=self._delivery_failing(),
            high_active=high_active(actives),
            any_active=any(actives),
            station_online=self.receipts.any_online(time.monotonic()),
        )

    def _delivery_failing(self) -> bool:
        return any(k in self.alarms.active for k in FAILING_KEYS) or task_failing(self.alarms)

    def _annunciator_active_changed(self) -> None:
        """A chair's active set changed. The pattern depends on it only while delivery
        fails or no station is online (`decide`): otherwise it is `off` whatever is active,
        and those two conditions poke the annunciator themselves when they change. So an
        alarm on a working link costs the annunciator no wake (issue 20)."""
        if (
            self.annunciator.pattern != "off"
            or self._delivery_failing()
            or self.receipts.any_online(time.monotonic()) is False
        ):
            self.annunciator.poke()

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
        self.task_alarms.crashed(st)
        self.write_status()  # `monitord status` marks a chair whose task is down

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
        hangup.on_loop(loop, self.stop_event.set, self.command)
        try:
            async with asyncio.TaskGroup() as tg:
                sup = Supervisor(
                    tg,
                    on_crash=self._on_crash,
                    backoff_initial_s=self.restart_backoff_s[0],
                    backoff_cap_s=self.restart_backoff_s[1],
                    on_recover=self.task_alarms.recovered,
                    healthy_after_s=self._crash_alarm[1],
                    relapse_window_s=self._crash_alarm[2],
                )
                self.supervisor = sup
                await self._start(sup)
                tg.create_task(self._watchdog(), name="watchdog")
                tg.create_task(self._alive(), name="alive")
                # The collector runs on a timer, out of an alarm's way (monitord/gcpacer.py).
                tg.create_task(pace_gc(step_aside=self.store.window.step_aside), name="gc")
                tg.create_task(check_later(self.outbox, self.alarms))  # storecheck.py
                if self.cfg.mqtt.enabled:  # its certificates' expiry, said ahead (certfiles.py)
                    tg.create_task(certfiles.watch(certfiles.mqtt_files(self.cfg.mqtt.tls)))
                self.notifier.ready(self.summary())
                log.info(f"monitord {__version__} ready: {self.summary()}")
                await self.stop_event.wait()
                hangup.quiet(loop)
                self.notifier.stopping()
                log.info("stopping")
                await self._shutdown(sup)
                raise _Stopped
        except* _Stopped:
            pass
        finally:
            hangup.quiet(loop)  # also when the stop is a failure's, not a signal's
            # The writer thread runs what is queued, the store is closed, its lock
            # released; unless the disk hangs: then what is lost is said (storestop.py).
            self.stopping.close()
            self.alarms.close()
            self.notifier.close()

    async def _start(self, sup: Supervisor) -> None:
        if self.cfg.mqtt.enabled:
            from monitord.sinks.mqtt import MqttSink

            self.delivery = watch = DeliveryWatch(
                self.cfg.mqtt.delivery_alarm_after_s,
                LaterLink(lambda: self.mqtt),
                lambda: any(c.active for c in self.chairs.values()),
                self.alarms,
                receipts=self.receipts,
            )
            self.mqtt = MqttSink(
                self.cfg.mqtt,
                self.cfg.site.id,
                list(self.chairs),
                self.outbox,
                self.on_command,
                logins={c.id: c.mqtt_login(self.cfg.mqtt) for c in self.cfg.chairs},
                receipts=self.receipts,
                on_refusal=watch.refusal,
                on_link=watch.poke,
                clocks={c: rt.clock for c, rt in self.chairs.items()},  # `chair_time`
            )
            self.sinks.append(self.mqtt)
            self.mqtt.link.on_change = functools.partial(self._link_changed, "mqtt")
            self.mqtt.on_reached = self._reached_now
            self.hub.subscribe(self.mqtt.on_batch, "mqtt")  # first: the alarm's path
            # What the watch decides on tells it (it does not poll: issue 20); the
            # receipts' hooks are its own (DeliveryWatch.__init__).
            self.hub.subscribe(functools.partial(_poke_on_active, watch.active_changed), "delivery")
            sup.spawn("sink:mqtt", self.mqtt.run)
            sup.spawn("alarm:delivery", watch.run)
        if self.annunciator.configured:
            poke = self._annunciator_active_changed
            self.hub.subscribe(functools.partial(_poke_on_active, poke), "annunciator")
            sup.spawn("annunciator", self.annunciator.run)
        if self.cfg.influx.enabled:
            from monitord.sinks.influx import InfluxSink

            self.influx = influx = InfluxSink(
                self.cfg.influx,
                self.cfg.site.id,
                self.outbox,
                step_aside=self.store.window.step_aside,
            )
            self.sinks.append(influx)
            influx.link.on_change = functools.partial(self._link_changed, "influx")
            self.hub.subscribe(influx.on_batch, "influx")
            sup.spawn("sink:influx", influx.run)
        if self.console is not None:
            self.hub.subscribe(ConsoleListener(self.console), "console")
        self.hub.subscribe(self._status_listener, "status")
        self.hub.subscribe(vitalsources.TwoSources(), "vitals")
        sup.spawn("store", lambda: self.store.run(self.cfg.storage.prune_interval_s))
        if self.writer is not None:  # a write that hangs is said, not silently waited for
            stall = StallWatch(self.store, self.writer, self.cfg.storage.stall_alarm_after_s)
            sup.spawn("store:stall", stall.run)
        for chair in self.chairs.values():
            sup.spawn(f"chair:{chair.cfg.id}", chair.run)
            # The set a chair resumes with (a restart keeps its alarms) goes out first, on
            # the chair's clock as its events (docs/mqtt.md "alerts/active": not the wall),
            # and no later than its next deadline: a timer that fell due while down fires
            # at the time the engine resumed (engine.resume, in __init__), before now; its
            # alarm stamped older than this set, a station kept the set when replayed.
            as_of = chair.clock.now()
            due = chair.engine.next_deadline(chair.cfg.id)
            chair.active = chair.engine.active(chair.cfg.id)
            self.hub.publish(
                CommittedBatch(
                    chair.cfg.id,
                    as_of if due is None else min(as_of, due),
                    active=chair.active,
                    session=chair.engine.session_info(chair.cfg.id),
                )
            )
            if chair.cfg.simulated:
                assert self.simulated is not None  # checked in __init__
                start = functools.partial(
                    self.simulated, chair, sup, self.player_done, self.stop_event
                )
                sup.spawn(f"player:{chair.cfg.id}", start)
            else:
                start_real_devices(chair, sup, self.ble_backends)

    def player_done(self) -> None:
        self._players_done += 1
        sims = sum(c.cfg.simulated for c in self.chairs.values())
        if self.stop_when_played and self._players_done >= sims:
            self.stop_event.set()

    async def _alive(self) -> None:
        """An idle daemon's status too is written (its 60-s heartbeat, with the `daemon/alive`
        row dating an unclean stop): while readings flow, the status listener does it."""
        while True:
            await asyncio.sleep(ALIVE_POLL_S)
            if time.monotonic() - self._status_written >= ALIVE_POLL_S:
                self.write_status()

    async def _shutdown(self, sup: Supervisor) -> None:
        stopped = {outage_mod.STOPPED_KEY: {"t": time.time()}}  # monitoring stops here
        # 1. stop inputs (device links, players): cancelling them closes ports cleanly
        sup.cancel_prefixed("device:", "player:")
        await asyncio.sleep(0)
        # 2. persist what is in flight: drain every chair queue through the engine
        for chair in self.chairs.values():
            chair.drain()
        if not await self.stopping.drain():
            return  # the disk hangs: nothing more is asked of it (monitord/storestop.py)
        if not self.store.holding:
            for chair in self.chairs.values():
                self.store.try_write(functools.partial(self._put_state, chair))
        self.write_status(final=True)
        if not self.outbox.memory:  # a clean stop: the next start says "stopped"
            self.store.try_write(functools.partial(outage_mod.put_rows, self.outbox, stopped))
        await self.stopping.drain()  # the states and the status are written
        # 3. the MQTT sink publishes `offline` when it is cancelled, next (bounded to 2 s)

    def _put_state(self, chair: ChairRuntime) -> None:
        for key, value in chair.resume_state().items():
            # What a restart resumes from must survive a power loss.
            self.outbox.put_state(key, value, durability=Durability.SYNC, commit=False)

    async def _watchdog(self) -> None:
        def stale_chairs(interval: float) -> str | None:
            # Ping only while every chair task is turning too: a wedged engine must let
            # systemd restart us. One that crashed and waits to restart is not wedged: its
            # alarm says so, and a restart would resume the state that crashed it
            # (monitord/taskalarm.py).
            limit = max(5.0, 4 * interval)
            now = time.monotonic()
            tasks = self.supervisor.tasks if self.supervisor is not None else {}
            stale = [
                c.cfg.id
                for c in self.chairs.values()
                if now - c.last_beat > limit
                and getattr(tasks.get(f"chair:{c.cfg.id}"), "state", "") != "backoff"
            ]
            return f"stale chairs {stale}" if stale else None

        await pace_watchdog(self.notifier, stale_chairs, self.summary)


def _poke_on_active(poke: Callable[[], None], batch: CommittedBatch) -> None:
    """A hub listener: `poke` when a chair's active set changed (the batch carries it)."""
    if batch.active is not None:
        poke()


class _Stopped(Exception):
    pass


__all__ = ["ChairRuntime", "Daemon", "DeviceCtx"]
