"""An `episodic` cuff (it connects only after a measurement, then hangs up) is not
advertising between measurements: the scans that find nothing then are its normal state,
not a failure. Each connection starts a new run of failures for the once-per-class
WARNING (`_Session.warned` is cleared on subscribing), so every idle period after a
measurement logged "no device ... seen (check the device is switched on ...)" at WARNING:
on a chair measured every 5 to 15 minutes, dozens of false advisories a day for months.
The house rule is WARNING once per outage, then DEBUG; for an episodic cuff the outage is
its silence (`silence_s`), which still says so, once.

Real bumble GATT peripheral, bleak, `run_ble_device` (tests/ble/test_e2e_link.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest

from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import RecordingContext, wait_until
from .test_e2e_link import FAST, bp, running

LOGGER = "monitord.drivers.ble_link"
MEASUREMENTS = 2
# Scans of 0.3 s (FAST's are 1 s), so each idle period holds several that find nothing,
# the periods and the silence shorter to match.
TIMING = dataclasses.replace(FAST, scan_timeout_s=0.3)
IDLE_S = 1.0  # more than 3 scan timeouts: scans between measurements find nothing
SILENCE_S = 2.5  # the cuff's `silence_s`: longer than one idle period


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING
    ]


async def test_idle_episodic_cuff_is_not_warned_after_each_measurement(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    assert 3 * TIMING.scan_timeout_s < IDLE_S
    ctx = RecordingContext(device="bp")
    base = datetime.now(UTC).replace(microsecond=0)
    async with SimCuff("HomeCuff", vlink, episodic=True) as cuff:
        async with running(
            vlink,
            ctx,
            TIMING,
            id="bp",
            driver="ble-bpm",
            name="HomeCuff",
            quirks=["episodic"],
            silence_s=SILENCE_S,
        ):
            # Not seen since the start (it does not advertise before its first
            # measurement): that is warned as for any device, before the first reading.
            await asyncio.sleep(IDLE_S)
            at_start = warnings(caplog)
            assert len(at_start) <= 1, at_start
            for i in range(MEASUREMENTS):
                await cuff.send(bp(120 + i, 80, 93, 70), base + timedelta(seconds=i))

                def taken(i: int = i) -> bool:
                    return any(r.values["sys_mmHg"] == 120 + i for r in ctx.readings)

                await wait_until(taken, what=f"measurement {i}")
                await wait_until(lambda: cuff.connection is None, what="cuff hangs up")
                await asyncio.sleep(IDLE_S)  # scans that find nothing
                assert warnings(caplog) == at_start, f"after measurement {i}"
            assert [up for up, _ in ctx.links] == [True] * MEASUREMENTS, ctx.links
            # Silence is still a loss, and said once at WARNING with its advice.
            await wait_until(lambda: not ctx.link_up, SILENCE_S + 10, "silent cuff: link down")
            await asyncio.sleep(2 * TIMING.scan_timeout_s)  # more scans finding nothing
    # The idle scans did happen (told at DEBUG), and did not warn.
    idle = [r for r in caplog.records if r.name == LOGGER and "idle (" in r.getMessage()]
    assert len(idle) >= MEASUREMENTS, [r.getMessage() for r in idle]
    said = warnings(caplog)[len(at_start) :]
    assert len(said) == 1 and "HomeCuff" in said[0] and "switched on" in said[0], said
