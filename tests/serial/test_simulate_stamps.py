"""`monitord simulate --speed S` stamps each measurement with its start time + the
scenario's `t` (as design.md section 2 says of a simulated chair's devices), not + t / S:
a Masimo line carries its own clock, which the daemon keeps as `measured_at`. Stamping
+ t / S left every test passing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serial_testkit import RecordingContext, simulate_read

from monitord.models import Kind

SCENARIO = """\
{"t": 0, "event": "spo2", "spo2": 97, "pulse": 70}
{"t": 40, "event": "spo2", "spo2": 95, "pulse": 71}
{"t": 44, "event": "end"}
"""


async def test_simulate_stamps_start_plus_t_at_any_speed(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    launched = datetime.now(UTC)
    async with simulate_read(tmp_path, ctx, SCENARIO, "masimo-ascii", 10) as (proc, ready):
        assert proc.stderr is not None
        err = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        assert await asyncio.wait_for(proc.wait(), 30) == 0, err
    # the first line of t = 40 (the t = 0 line may be flushed by the port's open, as a
    # real port drops what came before anyone listened): start + 40 s on the device's
    # clock (whole seconds on a Masimo line), not start + 40 / 10
    at = next(r.measured_at for r in ctx.of(Kind.SPO2) if r.values["spo2_pct"] == 95)
    start = at - timedelta(seconds=40)
    # (2 s either side: whole seconds, and the start taken a moment after the print;
    # + 40 / 10 would be 36 s early)
    slack = timedelta(seconds=2)
    assert launched - slack <= start <= ready + slack, (launched, start, ready)
