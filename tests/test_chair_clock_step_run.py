"""clinical-rules.md "Confirmation" and "Delivery of alarms": a wall-clock step neither
fires nor stalls alarms, and an HR/SpO2 rule raises once its condition held for `for`
seconds of samples no more than 10 s apart.

A real chair's clock follows a wall clock stepped forward (NTP on a Pi without RTC) when
a jump can change nothing (docs/reliability.md). It followed whenever no engine *timer*
was pending, but an HR/SpO2 confirmation run is no timer: samples 1 s apart straddling the
jump were an hour apart to the engine, the run restarted and the alarm came `for` seconds
late (up to 300 s for hr.high). A step under 10 s shortened the run instead.

The step is NTP's, played on the wall clock monitord.clock reads (real time plus the
step; its monotonic clock is the real one), as tests/faults/test_clock_steps.py does with
libfaketime for the whole daemon.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from monitord import clock as clock_mod
from monitord.chair import ChairRuntime
from monitord.hub import Hub
from monitord.models import Kind, Reading, utc
from tests.kit import eventually, make_chair

# hr.very_low confirmed over 1 s (for a short test): the second sample raises it.
FOR_1S = '"hr.very_low" = { for_s = 1 }'


class SteppedWall:
    """The `time` module as monitord.clock sees it: the wall clock NTP steps."""

    step = 0.0
    monotonic = staticmethod(time.monotonic)

    @classmethod
    def time(cls) -> float:
        return time.time() + cls.step


def hr(chair: ChairRuntime, bpm: float) -> Reading:
    now = utc(chair.clock.now())  # stamped on the chair's clock, as DeviceCtx does
    return Reading("chair-1", "strap", Kind.HR, {"hr_bpm": bpm}, now, now)


async def test_a_wall_step_during_an_hr_run_does_not_restart_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SteppedWall, "step", 0.0)
    monkeypatch.setattr(clock_mod, "time", SteppedWall)
    chair = make_chair(tmp_path, Hub(), FOR_1S)
    task = asyncio.create_task(chair.run())
    try:
        first = hr(chair, 35.0)
        chair.submit(first)
        await eventually(lambda: chair.processed == 1, 5, "the first HR sample")
        t1 = first.received_at.timestamp()
        SteppedWall.step = 3600.0  # NTP steps the wall clock an hour forward
        chair.wake()
        assert await chair.wait_for(lambda: chair.ticked_to >= t1 + 1.0, 5.0)
        chair.submit(hr(chair, 35.0))  # about 1 s after the first, to the patient
        await eventually(lambda: chair.processed == 2, 5, "the second HR sample")
        active = chair.engine.active("chair-1")
        assert [a["rule"] for a in active] == ["hr.very_low"], active
        assert active[0]["value"]["since_t"] == t1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
