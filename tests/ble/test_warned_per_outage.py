"""A device at the edge of range: scans miss it, then it connects and drops before a
single value, again and again. Its link stays down all along (a connection that gives
nothing is no link back, drivers/ble_link.py), so it is one outage, and the house rule is
one WARNING per outage, DEBUG on repeats (the module docstring's "logged at WARNING once
per outage"). Before, each connection that gave nothing cleared the once-per-class
memory on subscribing: every missed scan after it was a WARNING again, one per cycle for
as long as the device hovered at the edge, none of them news to the operator.

A real HRM peripheral (bumble, the virtual link, bleak, drivers/ble_link.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimStrap, VirtualBleLink

from .helpers import RecordingContext, wait_until
from .test_chair_faults import FAST, LOGGER, told
from .test_e2e_link import running


async def test_a_device_dropping_before_any_value_is_warned_once_per_outage(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ctx = RecordingContext(device="hr")
    async with SimStrap("EdgeStrap", vlink) as strap:
        async with running(vlink, ctx, FAST, id="hr", driver="ble-hrm", name="EdgeStrap"):

            async def missed_scan() -> None:
                """The strap drops its connection and is out of range for a scan."""
                heard = len(told(caplog, logging.WARNING) + told(caplog, logging.DEBUG))
                await strap.drop_link()
                await wait_until(
                    lambda: (
                        len(told(caplog, logging.WARNING) + told(caplog, logging.DEBUG)) > heard
                    ),
                    what="a scan that missed it",
                )

            async def connects() -> None:
                await strap.restore_link()
                await wait_until(lambda: strap.is_subscribed(strap.hrm), what="subscribed")

            await wait_until(lambda: strap.is_subscribed(strap.hrm), what="subscribed")
            await strap.send(SimEvent(Kind.HR, {"hr_bpm": 70}, contact=True), datetime.now(UTC))
            await wait_until(lambda: ctx.readings, what="a reading")
            await missed_scan()  # outage 1: said at WARNING
            await connects()  # link back at once (the last connection gave a value)
            await missed_scan()  # outage 2: said at WARNING
            for _ in range(3):  # the same outage: connections that give nothing
                await connects()
                await missed_scan()
    ups = [up for up, _ in ctx.links]
    assert [up for i, up in enumerate(ups) if i == 0 or up != ups[i - 1]] == [
        True,
        False,
        True,
        False,
    ], ctx.links
    assert len(told(caplog, logging.WARNING)) == 2, told(caplog, logging.WARNING)  # was 5
