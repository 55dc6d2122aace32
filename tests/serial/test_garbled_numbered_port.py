"""Undecodable data on a kernel-numbered port (/dev/ttyUSB0): the advice says the port
may now be another adapter. A reboot or a replug gives the numbers to whichever adapter
enumerates first: the chair's port may then be the next chair's monitor at another baud
rate, and "check the baud rate" sent the engineer to a monitor set right. Real ptys."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, PortBackoff, run_serial_device
from monitord.simulators.masimo import MasimoSim
from tests.kit import device_config


async def _garbled_warning(
    port: str, ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> str:
    rng = random.Random(5)
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=port, silence_s=0.3)
        # configured as `port`; the adapter behind it here is the simulator's pty
        task = asyncio.create_task(
            run_serial_device(
                dev, DRIVERS[dev.driver], ctx, port=sim.port, backoff=PortBackoff(min_s=0.02)
            )
        )
        try:
            for _ in range(100):
                sim.write(rng.randbytes(50))
                if any(LinkError.GARBLED.value in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    [warned] = [
        r.getMessage()
        for r in caplog.records
        if LinkError.GARBLED.value in r.getMessage() and r.levelno == logging.WARNING
    ]
    return warned


async def test_garbage_on_a_numbered_port_says_it_may_be_another_adapter(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    warned = await _garbled_warning("/dev/ttyUSB3", ctx, caplog)
    assert LinkError.GARBLED.advice in warned, warned
    assert "/dev/ttyUSB3 is numbered by the kernel" in warned, warned
    assert "/dev/serial/by-id/" in warned and "\n" not in warned, warned


async def test_garbage_on_a_named_port_keeps_the_line_advice(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    warned = await _garbled_warning("/dev/serial/by-id/usb-FTDI_FT232R-if00-port0", ctx, caplog)
    assert LinkError.GARBLED.advice in warned, warned
    assert "numbered by the kernel" not in warned, warned
