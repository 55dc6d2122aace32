"""`monitord simulate --speed S` stamps each measurement with its start time + the
scenario's `t` (as design.md section 2 says of a simulated chair's devices), not + t / S:
a Masimo line carries its own clock, which the daemon keeps as `measured_at`. Stamping
+ t / S left every test passing."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from tests.kit import device_config

SCENARIO = """\
{"t": 0, "event": "spo2", "spo2": 97, "pulse": 70}
{"t": 40, "event": "spo2", "spo2": 95, "pulse": 71}
{"t": 44, "event": "end"}
"""


async def test_simulate_stamps_start_plus_t_at_any_speed(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    scen = tmp_path / "s.jsonl"
    scen.write_text(SCENARIO)
    link = tmp_path / "oxi"
    launched = datetime.now(UTC)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitord", "simulate", "--driver", "masimo-ascii",
        "--link", str(link), "--speed", "10", str(scen),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    # the simulator takes its start time just after printing the port: about now
    ready = datetime.now(UTC)
    dev = device_config(id="ox", driver="masimo-ascii", port=first)
    task = asyncio.create_task(
        run_serial_device(dev, DRIVERS["masimo-ascii"], ctx, backoff=PortBackoff(0.05, 0.3))
    )
    try:
        err = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        assert await asyncio.wait_for(proc.wait(), 30) == 0, err
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # the first line of t = 40 (the t = 0 line may be flushed by the port's open, as a
    # real port drops what came before anyone listened): start + 40 s on the device's
    # clock (whole seconds on a Masimo line), not start + 40 / 10
    at = next(r.measured_at for r in ctx.of(Kind.SPO2) if r.values["spo2_pct"] == 95)
    start = at - timedelta(seconds=40)
    # (2 s either side: whole seconds, and the start taken a moment after the print;
    # + 40 / 10 would be 36 s early)
    slack = timedelta(seconds=2)
    assert launched - slack <= start <= ready + slack, (launched, start, ready)
