"""A device's `port` that names something that is not a serial port: a directory (the
`/dev/serial/by-id/` folder, its adapter's name not pasted) or a device that is no tty
(`/dev/null`, a disk). Before, the first was told as "port missing" ("[Errno 21]" holds
"errno 2", the missing port's errno: check the cable/USB adapter) and the second as "I/O
error" with "the device stopped answering: check the monitor is on": neither the cable
nor the monitor is the fault. Now both are "not a serial port", with the fix. Real files,
the real serial link.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from tests.kit import device_config, eventually


@pytest.mark.parametrize("what", ["a directory", "a device that is no tty"])
async def test_a_port_that_is_no_serial_port_says_so(
    tmp_path: Path, ctx: RecordingContext, caplog: pytest.LogCaptureFixture, what: str
) -> None:
    port = str(tmp_path) if what == "a directory" else "/dev/null"
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.serial_link")
    dev = device_config(id="ox", driver="masimo-ascii", port=port, silence_s=0.2)
    task = asyncio.create_task(
        run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=PortBackoff(min_s=0.02))
    )
    try:
        await eventually(lambda: bool(ctx.links), 10, "the link told down")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1, warned
    line = warned[0]
    assert f"({port}): not a serial port:" in line, line
    assert "ls -l /dev/serial/by-id/" in line, line
    assert "cable" not in line and "monitor is on" not in line, line
