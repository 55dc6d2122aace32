"""A Masimo's first line on a connection may be cut by the port's open (a real pty and the
real transport; the monitor sends a line a second without a pause to sync on, so the port
opens mid-line about one time in seven at 9600 baud).

The tail of the first real Rad-8 line of test_masimo_captures.py (github.com/yahnatan/
pulseox) is what such a connection reads first. A tail cut inside the EXC value has no
`KEY=value` field: it was counted as `wrong_mode`, and the operator was told once at
WARNING to switch a monitor already in ASCII 1 to ASCII 1. It is a cut line (`noise`);
a first line that lacks SPO2= stays `bad_format`; the whole lines after it are read, and
lines in ASCII 2 after it are still `wrong_mode`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.base import RejectReason
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.chair import PortOpened
from monitord.simulators.masimo import MasimoSim
from tests.kit import device_config

RAD8 = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
)


@contextlib.asynccontextmanager
async def first_bytes(first: bytes, ctx: RecordingContext) -> AsyncIterator[MasimoSim]:
    """A Masimo on a real pty whose transport reads `first` as its first bytes."""
    async with MasimoSim(repeat=False) as sim:
        opened = PortOpened()
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port)
        fast = PortBackoff(base_s=0.05, cap_s=0.2)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=fast, tap=opened)
        )
        try:
            await asyncio.wait_for(opened.event.wait(), 10)
            sim.write(first)
            yield sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (len(RAD8) - 8, RejectReason.NOISE),  # "000800\r\n": no field, was wrong_mode
        (len(RAD8) - 12, RejectReason.BAD_FORMAT),  # "XC=000800\r\n": lacks SPO2=, as before
    ],
)
async def test_a_line_cut_by_the_open_is_not_the_wrong_mode(cut: int, reason: RejectReason) -> None:
    ctx = RecordingContext()
    async with first_bytes(RAD8[cut:] + RAD8, ctx) as sim:
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 1, "the whole line after the cut")
        sim.write(b"02/22/16 22:47:46    98    97   3.60\r\n")  # then ASCII 2 lines
        await ctx.until(lambda: len(ctx.rejects) == 2, "the ASCII 2 line")
    assert [r.reason for r in ctx.rejects] == [reason, RejectReason.WRONG_MODE]
    assert "ASCII 1" not in ctx.rejects[0].detail  # no advice for a cut line


async def test_a_tail_holding_spo2_and_bpm_reads() -> None:
    ctx = RecordingContext()
    tail = RAD8[RAD8.index(b"SPO2=") :]
    async with first_bytes(tail + RAD8, ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 2, "both lines")
    first, second = ctx.of(Kind.SPO2)
    assert first.values == second.values == {"spo2_pct": 98, "pulse_bpm": 97}
    assert first.device_time is None and first.valid and not ctx.rejects
