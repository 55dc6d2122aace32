"""A BLE connect that times out part-way must not leave the link half open.

The peripheral below takes the connection (link layer up) and then never answers the
central's primary-service discovery on it: `connect()` cannot finish within
`connect_timeout_s`. After the timeout the link must be closed from the central's side.
Otherwise the peripheral stays connected to nobody and stops advertising (as a real cuff
or oximeter does, and as BlueZ keeps the controller's connection), every later scan
misses it and the device is lost until it is power-cycled.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from bumble.att import Bearer
from bumble.device import Connection
from bumble.gatt import Service

from monitord.drivers import ble_hangup
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimOximeter, VirtualBleLink, backends
from tests.kit import device_config

from .helpers import RecordingContext, wait_until

TIMING = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=1.0, backoff_scale=0.01)


class _StallingService(Service):
    """A primary service whose declaration is not read (so discovery gets no answer) on
    the first `stalls` connections, until that connection ends."""

    def __init__(self, stalls: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalls = stalls
        self.stalled: list[Connection] = []  # connections that asked and got no answer
        self.closed: list[Connection] = []  # ... and then were closed

    async def read_value(self, bearer: Bearer) -> bytes:
        if self.stalls > 0 and isinstance(bearer, Connection):
            self.stalls -= 1
            self.stalled.append(bearer)
            gone = asyncio.Event()
            bearer.on(bearer.EVENT_DISCONNECTION, lambda _reason: gone.set())
            await gone.wait()
            self.closed.append(bearer)
            # The request dies with its connection: answering later would reach whichever
            # connection reuses the handle (bumble hands out the lowest free one).
            raise asyncio.CancelledError
        return await super().read_value(bearer)


class StallingOximeter(SimOximeter):
    """An oximeter that hangs in service discovery on its first connection."""

    def _services(self) -> list[Service]:
        [svc] = super()._services()
        self.service = _StallingService(1, svc.uuid, svc.characteristics)
        return [self.service]


def start(vlink: VirtualBleLink, ctx: RecordingContext, timing: LinkTiming) -> asyncio.Task[None]:
    dev = device_config(id="spo2", driver="ble-plx", name="StallOx")
    client, scanner = backends(vlink)
    return asyncio.create_task(
        run_ble_device(
            dev,
            DRIVERS[dev.driver],
            ctx,
            client_backend=client,
            scanner_backend=scanner,
            timing=timing,
            rng=random.Random(1),
        )
    )


async def test_connect_timed_out_in_discovery_is_closed_and_the_next_one_works(
    vlink: VirtualBleLink,
) -> None:
    ctx = RecordingContext(device="spo2")
    async with StallingOximeter("StallOx", vlink) as ox:
        task = start(vlink, ctx, TIMING)
        try:
            await wait_until(lambda: ox.service.stalled, 5.0, "a connect stuck in discovery")
            # The peripheral's side: the timed-out connection is closed by the central.
            await wait_until(lambda: ox.service.closed, 5.0, "the stuck connection closed")
            # ... so it advertises again and the next attempt connects and readings flow.
            ev = SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 72.0})

            async def flowing() -> None:
                while not ctx.readings:
                    await ox.send(ev, datetime.now(UTC))
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(flowing(), 10.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert ctx.readings[0].values["spo2_pct"] == 97.0
    assert [up for up, _ in ctx.links[:2]] == [False, True]
    # Classified as before (Transient), and saying what timed out (it said "TimeoutError: ").
    assert "TimeoutError: connect not done in 1 s" in ctx.links[0][1], ctx.links[0]


async def test_stop_during_a_stuck_connect_closes_the_link(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext(device="spo2")
    async with StallingOximeter("StallOx", vlink) as ox:
        # a connect timeout the test never reaches: the stop comes first
        task = start(vlink, ctx, LinkTiming(scan_timeout_s=1.0, connect_timeout_s=30.0))
        try:
            await wait_until(lambda: ox.service.stalled, 5.0, "a connect stuck in discovery")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        await wait_until(lambda: ox.service.closed, 5.0, "the stuck connection closed")
    assert ctx.links == []  # never up, and a stop is no link loss


async def test_a_second_stop_does_not_leave_the_hang_up_to_the_loop_s_end(
    vlink: VirtualBleLink,
) -> None:
    """The daemon's stop cancels a device task twice: first the inputs (`_shutdown`), then
    the task group when it ends. The second one returned from the shielded hang-up at once,
    leaving it in the background, where asyncio.run cancels it as it closes the loop: the
    link was left up (the device not advertising after the restart). Now the task ends
    only with its hang-up done (bounded by `disconnect_timeout_s`)."""
    ctx = RecordingContext(device="spo2")
    async with StallingOximeter("StallOx", vlink) as ox:
        task = start(vlink, ctx, LinkTiming(scan_timeout_s=1.0, connect_timeout_s=30.0))
        try:
            await wait_until(lambda: ox.service.stalled, 5.0, "a connect stuck in discovery")
        finally:
            task.cancel()  # the inputs' stop: the task is hanging up
            await asyncio.sleep(0)
            task.cancel()  # the task group's
            await asyncio.gather(task, return_exceptions=True)
        left = list(ble_hangup._hanging_up)
        await asyncio.gather(*left, return_exceptions=True)  # (done before the next test)
        assert left == [], "a hang-up was left running when its device task ended"
        await wait_until(lambda: ox.service.closed, 5.0, "the stuck connection closed")
