"""drivers/serial_link.py: a `socket://` device whose server is not listening (a device
server switched off, ser2net not running) is the device absent: class `port missing`,
with its advice and its short steady pace, not `I/O error` ("the device stopped answering:
check the monitor is on"), paced up to 30 s, which sent the engineer to a monitor that
was never reached and found the server late once it was back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, run_serial_device
from tests.kit import device_config
from tests.serial.test_serial_backoff import CountingBackoff
from tests.servers import free_port


async def test_a_socket_nobody_listens_on_is_a_missing_port(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.serial_link")
    url = f"socket://127.0.0.1:{free_port()}"  # nothing listens there
    backoff = CountingBackoff(min_s=0.02)
    dev = device_config(id="ox", driver="masimo-ascii", port=url)
    task = asyncio.create_task(run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff))
    try:
        await ctx.until(lambda: len(backoff.asked) >= 2, "two refused connections")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {e for e, _ in backoff.asked} == {LinkError.PORT_MISSING}, backoff.asked
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and LinkError.PORT_MISSING.advice in warned[0].getMessage()
