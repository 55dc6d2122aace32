"""clinical-rules.md "Delivery of alarms": "a stuck or unset device clock never hides a new
measurement". An IntelliVue whose absolute clock is stuck (set, not running) answers
every poll with the same abs_time_stamp; an HR or SpO2 numeric without a stamp of its own
takes that time as its device time, and a poll answered with the same device time and
values was dropped as an echo of the last (drivers/intellivue.py `_emit`): a steady HR 45
or SpO2 82 reached the chair once, the HR/SpO2 runs saw no sample within 10 s and a
bradycardia or desaturation was never raised. The poll's relative time (the monitor's
uptime, 1/8 ms ticks) runs on: each poll is a fresh sample of a continuous numeric.

The monitor is the IntelliVue simulator on a real pty with its poll answer replaced by
frames built with drivers/intellivue_frames.py: the clock stuck, HR/SpO2 unstamped, the
relative time 1 s further at each poll (polled every second on the monitor's time; the
driver itself is paced faster, nothing is timed on the wall clock). Its last answer
carries another HR, a sentinel: once that is read, every answer before it was.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from monitord.chair import ChairRuntime
from monitord.drivers import intellivue_frames as F
from monitord.drivers.intellivue import IntelliVueProtocol
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading, utc
from monitord.simulators.intellivue import IntelliVueSim
from tests.kit import RecordingContext, SetClock, device_config, make_chair

STUCK = datetime(2024, 6, 15, 17, 17, 27, tzinfo=UTC)  # the monitor's clock, not running
TICKS_PER_S = 8000  # RelativeTime: 1/8 ms
SENTINEL_HR = 46.0


def answer(hr: float, spo2: float = 82.0) -> list[F.Observation]:
    """HR, SpO2 and its pulse without stamps of their own, and an NIBP without one (an
    aperiodic measurement: one reading however often polled)."""
    bpm = F.NOM_DIM_BEAT_PER_MIN
    nibp = (
        F.ObservedValue(F.NOM_PRESS_BLD_NONINV_SYS, 0, F.NOM_DIM_MMHG, 128.0),
        F.ObservedValue(F.NOM_PRESS_BLD_NONINV_DIA, 0, F.NOM_DIM_MMHG, 80.0),
        F.ObservedValue(F.NOM_PRESS_BLD_NONINV_MEAN, 0, F.NOM_DIM_MMHG, 96.0),
    )
    return [
        F.Observation(0x0101, nibp),
        F.Observation(0x0103, (F.ObservedValue(F.NOM_ECG_CARD_BEAT_RATE, 0, bpm, hr),)),
        F.Observation(
            0x0104,
            (F.ObservedValue(F.NOM_PULS_OXIM_SAT_O2, 0, F.NOM_DIM_PERCENT, spo2),),
            label=F.NLS_NOM_PULS_OXIM_SAT_O2,
        ),
        F.Observation(
            0x0105,
            (F.ObservedValue(F.NOM_PLETH_PULS_RATE, 0, bpm, hr),),
            label=F.NLS_NOM_PULS_OXIM_PULS_RATE,
        ),
    ]


class StuckClockMonitor(IntelliVueSim):
    """The simulator's association dialog; its poll answers: the steady numerics
    (`answer`) at the stuck clock for `steady` polls, then the sentinel HR, then none."""

    def __init__(self, steady: int) -> None:
        super().__init__(repeat=False)
        self.steady = steady

    def _handle(self, msg: F.Message) -> None:
        if msg.type != "poll_request" or not self.associated:
            super()._handle(msg)
            return
        if self.polls > self.steady:
            return  # the sentinel went out: nothing more to read
        self.polls += 1
        obs = answer(SENTINEL_HR if self.polls > self.steady else 45.0)
        uptime = (3600 + self.polls) * TICKS_PER_S  # an hour up, then 1 s a poll
        result = F.poll_result(
            msg.invoke_id, msg.poll_number, self.polls, STUCK, obs, rel_time=uptime
        )
        self._send(result)


async def play(monitor: StuckClockMonitor, ctx: RecordingContext) -> None:
    """The driver's own session over the pty until the sentinel HR is read."""
    dev = device_config(id=ctx.device, driver="intellivue", port=monitor.port)
    dev = dev.with_settings(poll_interval_s=0.02)  # fast on the wall clock, see above
    task = asyncio.create_task(
        run_serial_device(dev, DRIVERS["intellivue"], ctx, backoff=PortBackoff(0.05, 0.3))
    )

    def sentinel() -> bool:
        return any(r.values.get("hr_bpm") == SENTINEL_HR for r in ctx.of(Kind.HR))

    try:
        await ctx.until(sentinel, "the sentinel HR", 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_steady_hr_and_spo2_from_a_stuck_clock_is_a_sample_at_every_poll() -> None:
    steady = 60  # 60 s of HR 45 and SpO2 82 at 1-s polls
    ctx = RecordingContext(device="mon")
    async with StuckClockMonitor(steady) as monitor:
        await play(monitor, ctx)
    assert monitor.associations == 1 and not monitor.rejects and not ctx.rejects
    hr = [r.values["hr_bpm"] for r in ctx.of(Kind.HR)]
    spo2 = [r.values["spo2_pct"] for r in ctx.of(Kind.SPO2)]
    # Before: [45.0, 46.0] and [82.0], every steady poll after the first dropped.
    assert hr == [45.0] * steady + [SENTINEL_HR], hr
    assert spo2 == [82.0] * (steady + 1), spo2
    assert all(r.device_time == STUCK and r.valid for r in ctx.of(Kind.HR) + ctx.of(Kind.SPO2))
    # The unstamped NIBP is one measurement still, however far the uptime ran.
    (bp,) = ctx.of(Kind.BP)
    assert bp.device_time is None and bp.valid


def test_a_poll_answer_read_twice_is_still_an_echo() -> None:
    """Same abs and relative time, same values: the same answer again (not a new poll),
    one sample; the relative time one tick on makes it a new one."""
    proto = IntelliVueProtocol()
    ctx = RecordingContext()
    for seq, rel in [(1, 500), (2, 500), (3, 501)]:
        msg = F.decode_message(F.poll_result(seq, seq, seq, STUCK, answer(45.0), rel_time=rel))
        assert isinstance(msg, F.Message) and msg.rel_time == rel
        proto._emit(msg, ctx)
    assert len(ctx.of(Kind.HR)) == len(ctx.of(Kind.SPO2)) == 2
    assert len(ctx.of(Kind.BP)) == 1


@dataclass
class ChairContext(RecordingContext):
    """The device's context in the daemon, on a real chair: each reading is stamped on the
    chair's clock and processed by the chair; one poll is one second of that clock."""

    runtime: ChairRuntime | None = None
    clock: SetClock = field(default_factory=lambda: SetClock(STUCK.timestamp() + 86400))

    def emit(self, reading: Reading) -> None:
        super().emit(reading)
        assert self.runtime is not None
        self.runtime.process([reading])
        if reading.kind is Kind.SPO2:  # the last of a poll's readings (`answer`)
            self.clock.t += 1.0

    def now(self) -> datetime:
        return utc(self.clock.now())


async def test_a_stuck_clock_monitor_raises_bradycardia_and_desaturation(tmp_path: Path) -> None:
    """End to end from the pty: HR 45 for 60 s raises `hr.low` (hr < 50 for 60 s) and
    SpO2 82 % `spo2.very_low` (< 85 for 10 s); before, neither was ever raised."""
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    ctx = ChairContext(device="mon")
    ctx.runtime = make_chair(tmp_path, hub, clock=ctx.clock)
    async with StuckClockMonitor(65) as monitor:
        await play(monitor, ctx)
    raised = {e.rule for b in batches for e in b.events if e.event == "raised"}
    assert {"hr.low", "spo2.very_low"} <= raised, raised
