"""drivers/serial_link.py, module docstring: "Each error class is logged at WARNING once
with operator advice, then at DEBUG while it repeats. Only a session that was up ... resets
the counts and the once-per-class memory."

Either reset dropped left every test passing. Without the memory's: the adapter pulled out
on Monday was warned of, the same adapter pulled out on Tuesday, after a day of readings,
only at DEBUG, so the log an engineer reads for a chair's `tech.device_lost` said nothing
of the second outage. Without the counts': Tuesday's outage went on from Monday's grown
delay (up to the cap) instead of the shortest, so the replugged adapter was found later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim
from tests.kit import device_config
from tests.serial.test_serial_backoff import CountingBackoff


async def test_an_outage_after_the_link_was_up_is_warned_again(
    tmp_path: Path, ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.serial_link")
    link = tmp_path / "by-id-ox"  # re-pointed at the new pty on each replug, as udev does
    sim = MasimoSim(symlink=link)
    sim.period_s = 0.05  # its own cadence: a line every 50 ms while plugged in
    missing = LinkError.PORT_MISSING.value
    async with sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=str(link))
        backoff = CountingBackoff(min_s=0.02)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff)
        )
        try:
            await sim.send(
                SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70}), datetime.now(UTC)
            )
            asked: list[list[tuple[LinkError | None, int]]] = []
            for outage in (1, 2):
                await ctx.until(lambda: ctx.link_up, f"link up before outage {outage}")
                await sim.drop_link()  # the adapter pulled out
                await ctx.until(lambda: not ctx.link_up, f"outage {outage} told")
                # several reopen attempts of the missing port (DEBUG after the first)
                n = len(caplog.records)
                await ctx.until(
                    lambda n=n: sum(missing in r.getMessage() for r in caplog.records[n:]) >= 2,
                    f"retries in outage {outage}",
                )
                asked.append(list(backoff.asked))
                await sim.restore_link()  # plugged back in
            await ctx.until(lambda: ctx.link_up, "link up after outage 2")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    told = [r for r in caplog.records if missing in r.getMessage()]
    ups = [i for i, r in enumerate(caplog.records) if r.getMessage().endswith("link up")]
    assert len(ups) == 3, [r.getMessage() for r in caplog.records]
    for first_up, next_up in itertools.pairwise(ups):
        lines = [r for r in caplog.records[first_up:next_up] if r in told]
        # the first line of each outage at WARNING, with the operator's advice; repeats DEBUG
        assert [r.levelname for r in lines][:1] == ["WARNING"], lines
        assert LinkError.PORT_MISSING.advice in lines[0].getMessage()
        assert all(r.levelname == "DEBUG" for r in lines[1:]), lines
    # each outage counts its attempts from 0: the link up in between reset the count
    first, both = asked
    second = both[len(first) :]
    assert [n for _, n in first][:2] == [0, 1], first
    assert [n for _, n in second][:2] == [0, 1], second
