"""A serial link down for one cause whose cause changes (the adapter unplugged, then
plugged into a monitor at the wrong baud rate): the new cause is told, over real ptys."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.simulators.masimo import MasimoSim
from tests.kit import device_config, eventually


async def test_a_down_whose_cause_changes_tells_the_new_cause(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    # Before, only the first failure after start (or after up) was told: the status
    # kept "cannot open: No such file" (replug the adapter) while the adapter was in and
    # only garbage came (check the baud rate); the new cause was only in the journal.
    link = tmp_path / "ttyUSB-monitor"
    rng = random.Random(3)
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=str(link), silence_s=0.2)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=PortBackoff(min_s=0.02))
        )
        try:
            await eventually(lambda: bool(ctx.links), 10, "the missing port told")
            link.symlink_to(sim.port)  # plugged in: only garbage comes
            for _ in range(300):
                sim.write(rng.randbytes(50))
                if len(ctx.links) >= 2:
                    break
                await asyncio.sleep(0.02)
            for _ in range(30):  # more garbled sessions: the same cause is not told again
                sim.write(rng.randbytes(50))
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [up for up, _ in ctx.links] == [False, False], ctx.links
    assert ctx.links[0][1].startswith("cannot open"), ctx.links
    assert not ctx.links[1][1].startswith("cannot open"), ctx.links
