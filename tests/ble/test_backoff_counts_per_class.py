"""drivers/ble_link.py, module docstring: each error class has "its own capped exponential
backoff with jitter (its own base, cap and attempt count)", and "Only a connection that
gave a value resets the counts: one that connected and gave nothing backs off like a
failed one (`Transient`), or a device that takes the connection but never notifies was
reconnected about every `silence_s` forever."

Either dropped (every connection's end clearing the counts, or one count shared by all
classes) left every test passing. A real HRM peripheral (bumble, the virtual link, bleak,
drivers/ble_link.py) that takes every connection and never notifies (not bonded, a stuck
sensor). The backoff's draws are recorded by the generator it is given, so the test reads
the loop's counting (each draw's upper bound is the class's capped step
`base * 2^attempt * backoff_scale`), not how fast anything ran.
"""

from __future__ import annotations

import asyncio
import math
import random

from monitord.config import DeviceConfig
from monitord.drivers.ble_errors import DeviceGone, Transient
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.simulators.ble import SimStrap, VirtualBleLink
from monitord.simulators.bleak_bumble import backends

from .helpers import RecordingContext, stop, wait_until

SCALE = 0.001
TIMING = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=SCALE)


class DrawRecorder(random.Random):
    """The link's jitter source, noting each draw's bounds."""

    def __init__(self) -> None:
        super().__init__(1)
        self.highs: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.highs.append(b)
        return super().uniform(a, b)


def attempt(high: float, base_s: float) -> int:
    """The attempt number a draw was made for (below the class's cap)."""
    return round(math.log2(high / (base_s * SCALE)))


async def test_connections_that_give_nothing_back_off_longer_and_each_class_counts_its_own(
    vlink: VirtualBleLink,
) -> None:
    ctx = RecordingContext(device="hr")
    rng = DrawRecorder()
    client, scanner = backends(vlink)
    dev = DeviceConfig.model_validate(
        {"id": "hr", "driver": "ble-hrm", "name": "MuteStrap", "silence_s": 0.3}
    )
    async with SimStrap("MuteStrap", vlink) as strap:  # connectable, never notifies
        link = run_ble_device(
            dev,
            DRIVERS["ble-hrm"],
            ctx,
            client_backend=client,
            scanner_backend=scanner,
            timing=TIMING,
            rng=rng,
        )
        t = asyncio.create_task(link)
        try:
            await wait_until(lambda: len(rng.highs) >= 4, what="four silent connections")
            await strap.drop_link()  # now out of range: scans miss it (DeviceGone)
            mark = len(rng.highs)
            await wait_until(lambda: len(rng.highs) >= mark + 3, what="missed scans")
        finally:
            await stop(t)
    # each silent connection ended as a Transient, its attempt count growing: 0, 1, 2, 3
    # (it was 0 each time: reconnected at the shortest delay for ever)
    assert [attempt(h, Transient.backoff_base_s) for h in rng.highs[:4]] == [0, 1, 2, 3]
    # the missed scans count their own attempts from 0 (the shortest DeviceGone step),
    # not on from the silent connections' count
    first_miss = DeviceGone.backoff_base_s * SCALE
    assert any(math.isclose(h, first_miss) for h in rng.highs[mark:]), rng.highs[mark:]
