"""Play a scenario (design.md section 5) on a simulated chair, on its virtual clock.

Measurements go to the simulated devices, which put them on the wire; session actions and
acknowledgements go to the chair as a nurse's commands would; `device_lost`/`device_back`
unplug and replug the device's link. Before each event the player lets the chair's clock
run up to (not past) the event's time, then holds it there until the daemon has processed
what the event caused, so the live chair stamps and orders everything exactly as
`monitord replay` does.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from monitord.clock import SimClock
from monitord.engine.inputs import Ack, SessionCmd
from monitord.models import Kind, utc
from monitord.scenario import ScenarioEvent, ScenarioFile
from monitord.simulators.base import SimEvent

if TYPE_CHECKING:
    from monitord.chair import ChairRuntime, DeviceStatus

log = logging.getLogger("monitord.simulators.player")

# How long (wall seconds) the clock is held for an event's effect before moving on. Only
# reached when an event produces nothing (e.g. a frame the device could not send).
EFFECT_TIMEOUT_S = 5.0
LINK_UP_TIMEOUT_S = 20.0
_SESSION: dict[str, Literal["start", "dose_start", "dose_end", "end"]] = {
    "session_start": "start",
    "dose_start": "dose_start",
    "dose_end": "dose_end",
    "session_end": "end",
}


def sim_event(ev: Any) -> SimEvent | None:
    """Scenario measurement -> what a simulated device puts on the wire."""
    if ev.event == "bp":
        return SimEvent(
            Kind.BP,
            {
                "sys_mmHg": ev.sys,
                "dia_mmHg": ev.dia,
                "map_mmHg": getattr(ev, "map", None),
                "pulse_bpm": getattr(ev, "pulse", None),
            },
            error=bool(getattr(ev, "error", False)),
        )
    if ev.event == "hr":
        return SimEvent(Kind.HR, {"hr_bpm": ev.hr}, contact=getattr(ev, "contact", None))
    if ev.event == "spo2":
        probe_off = getattr(ev, "probe_off", None)
        return SimEvent(
            Kind.SPO2,
            {"spo2_pct": ev.spo2, "pulse_bpm": getattr(ev, "pulse", None)},
            contact=None if probe_off is None else not probe_off,
        )
    return None


def _at_least(st: DeviceStatus, n: int) -> bool:
    return st.readings >= n


class ChairPlayer:
    def __init__(
        self,
        chair: ChairRuntime,
        sims: dict[str, Any],
        ports_open: dict[str, asyncio.Event] | None = None,
    ) -> None:
        self.chair = chair
        self.sims = sims
        # Serial devices: set once the daemon's transport has opened the device's port.
        self.ports_open = ports_open or {}
        assert isinstance(chair.clock, SimClock)
        self.clock: SimClock = chair.clock
        # Scenario kinds -> the device that plays them (first device offering that kind).
        self.by_kind: dict[str, str] = {}
        for dev_id, sim in sims.items():
            for k in sim.kinds:
                self.by_kind.setdefault(str(k), dev_id)
        # Scenario files are streamed, not loaded: each is validated here (a bad line
        # stops the chair before it starts) and read again as it plays.
        self.files: list[ScenarioFile] = []
        seen: set[str] = set()
        for dev in chair.cfg.devices:
            path = str(dev.simulate)
            if path in seen:
                continue
            seen.add(path)
            f = ScenarioFile(path)
            f.check()
            self.files.append(f)
        self._stored_skipped = 0

    def events(self) -> Iterator[ScenarioEvent]:
        """This chair's events of every attached scenario, in time order (file order
        within one `t`; earlier files first on ties, as a stable sort would)."""
        me = self.chair.cfg.id

        def mine(f: ScenarioFile) -> Iterator[ScenarioEvent]:
            # A scenario naming at most one chair plays on whichever chair attaches it; a
            # multi-chair scenario gives each chair its own events, and its `end` (named
            # on one chair, as every line) to all: replay fires every chair's timers up
            # to it, so a chair stopped at its own last event would miss theirs.
            if len(f.chairs) > 1:
                return (e for e in f if e.chair == me or e.event == "end")
            return iter(f)

        return heapq.merge(*(mine(f) for f in self.files), key=lambda e: e.t)

    def _polled(self, ev: ScenarioEvent) -> tuple[str, int] | None:
        """(device, the kind's place in its answer) for a measurement that goes to a
        device answering polls (`answers_polls`: each answer carries every kind set since,
        in the order of its `kinds`); None for any other event."""
        sev = None if getattr(ev, "stored", False) else sim_event(ev)
        # Not BP: the chair holds a BP reading for its history check before the engine
        # sees it, so a BP set with the HR and SpO2 after it would reach the engine after
        # them, not in the scenario's order (tests/test_sim_equivalence.py).
        if sev is None or sev.kind not in (Kind.HR, Kind.SPO2):
            return None
        dev_id = self.by_kind.get(str(sev.kind))
        if dev_id is None or not getattr(self.sims[dev_id], "answers_polls", False):
            return None
        return dev_id, self.sims[dev_id].kinds.index(sev.kind)

    def _steps(self) -> Iterator[tuple[list[ScenarioEvent], str | None]]:
        """The events one by one, except a polled device's HR and SpO2 at one `t` in the
        order its answer gives them: one step, set together and answered by one poll. A
        step per event waited a poll each, so a scenario with HR and SpO2 every second ran
        at half speed in real time (an IntelliVue polled every second). The chair still
        sees them in the scenario's order, at its `t`, as replay does. Yields each step
        with its device when it has more than one event."""
        step: list[ScenarioEvent] = []
        dev: str | None = None  # the device of a step of several
        last: tuple[str, int] | None = None
        for ev in self.events():
            here = self._polled(ev)
            if (
                step
                and here is not None
                and last is not None
                and ev.t == step[0].t
                and here[0] == last[0]
                and here[1] > last[1]
            ):
                step.append(ev)
                dev = here[0]
            else:
                if step:
                    yield step, dev
                step, dev = [ev], None
            last = here
        if step:
            yield step, dev

    async def play(self) -> None:
        await self._wait_links_up()
        start = self.clock.start
        end_t: float | None = None
        last_t = start
        for step, polled in self._steps():
            ev = step[0]
            t = last_t = start + ev.t
            if getattr(ev, "stored", False):
                # A simulated device has no memory to push: a stored record (history, fed
                # to no rule) is not played, so the chair raises what replay raises.
                self._stored_skipped += 1
                if self._stored_skipped == 1:
                    log.info(f"{self.chair.cfg.id}: stored records in the scenario not played")
                continue
            self.clock.next_event = t
            self.chair.wake()
            await asyncio.sleep(self.clock.free_delay(t))
            if ev.event == "end":
                end_t = t
                break
            if polled is None:
                done = await self._apply(ev, t)
            else:  # measurements for one device: its count of readings tells them all
                st = self.chair.devices[polled]
                n = st.readings
                for e in step:
                    await self._apply(e, t)  # each one's own condition: met by any one
                done = partial(_at_least, st, n + len(step))
            # A device back in range is found and connected again by the daemon's own
            # reconnect (its backoff, a scan): that takes longer than a reading's effect.
            wait_s = LINK_UP_TIMEOUT_S if ev.event == "device_back" else EFFECT_TIMEOUT_S
            if done is not None and not await self.chair.wait_for(done, wait_s):
                what = " + ".join(e.event for e in step)
                log.warning(
                    f"{self.chair.cfg.id}: t={ev.t}: {what} had no effect within "
                    f"{wait_s}s (device link down?)"
                )
        final = end_t if end_t is not None else last_t
        self.clock.final = final
        self.clock.next_event = final
        self.chair.wake()
        await asyncio.sleep(self.clock.free_delay(final))
        await self.chair.wait_ticked(final, EFFECT_TIMEOUT_S)
        log.info(f"{self.chair.cfg.id}: scenario played to t={final - start:g}s")

    async def _wait_links_up(self) -> None:
        """BLE peripherals need a moment to be found and connected. Serial devices report
        their link with their first bytes, but what they write before the transport opened
        the port is flushed (pyserial's open): wait for the ports to be open."""
        ports = list(self.ports_open.values())
        if ports:
            try:
                async with asyncio.timeout(LINK_UP_TIMEOUT_S):
                    await asyncio.gather(*(e.wait() for e in ports))
            except TimeoutError:
                log.warning(f"{self.chair.cfg.id}: serial port(s) not opened; playing anyway")
        from monitord.drivers.registry import DRIVERS

        # A cuff with the `episodic` quirk connects only after a measurement: not now.
        ble = [
            d.id
            for d in self.chair.cfg.devices
            if DRIVERS[d.driver].transport == "ble"
            and "episodic" not in {q.strip().lower() for q in (d.quirks or [])}
        ]
        devs = self.chair.devices
        if ble and not await self.chair.wait_for(
            lambda: all(devs[d].link == "up" for d in ble), LINK_UP_TIMEOUT_S
        ):
            log.warning(f"{self.chair.cfg.id}: BLE device(s) not connected; playing anyway")

    async def _apply(self, ev: Any, t: float) -> Callable[[], bool] | None:
        """Do what the event says; return the condition that shows its effect was processed."""
        chair = self.chair
        chair_id = chair.cfg.id
        if ev.event in _SESSION:
            cmd = SessionCmd(
                t,
                chair_id,
                _SESSION[ev.event],
                getattr(ev, "protocol", None),
                session_id=getattr(ev, "session_id", None),  # a scenario may name it
            )
            n = chair.processed
            chair.submit_command(cmd)
            return lambda: chair.processed > n
        if ev.event == "ack":
            n = chair.processed
            chair.submit_command(Ack(t, chair_id, rule=ev.rule, by=ev.by))
            return lambda: chair.processed > n
        if ev.event in ("device_lost", "device_back"):
            dev_id = self.by_kind.get(ev.device)
            if dev_id is None:
                log.warning(f"{chair_id}: no simulated device plays {ev.device!r}")
                return None
            st = chair.devices[dev_id]
            if ev.event == "device_lost":
                await self.sims[dev_id].drop_link()
                return lambda: st.link == "down"
            await self.sims[dev_id].restore_link()
            return lambda: st.link == "up"
        sev = sim_event(ev)
        dev_id = None if sev is None else self.by_kind.get(str(sev.kind))
        if sev is None or dev_id is None:
            return None
        st = chair.devices[dev_id]
        n = st.readings
        await self.sims[dev_id].send(sev, utc(t))
        return lambda: st.readings > n
