"""A device configured by `name` alone, once connected, is known by its address: its
reconnects (a strap or oximeter after a drop, an episodic cuff after each measurement)
take that address again at once, without the name window, also while another device of
the name advertises. Real bumble peripherals on the virtual link, bleak, the real
drivers/ble_link.py (tests/ble/test_same_name.py: the first connection)."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import pytest

from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.simulators.ble import SimCuff, VirtualBleLink, backends
from tests.kit import device_config

from .helpers import RecordingContext
from .test_same_name import NAME, bp, by_name


async def test_own_cuff_back_is_read_while_the_next_chairs_advertises(
    vlink: VirtualBleLink,
) -> None:
    # Before: the reconnect listened the name window again, heard both cuffs and refused
    # both ("2 devices advertise"): this chair's cuff, read a minute before, was lost
    # (tech.device_lost) as soon as the next chair's cuff of the model was switched on.
    ctx = RecordingContext(device="bp")
    async with SimCuff(NAME, vlink) as ours:
        async with by_name(vlink, ctx):
            await ctx.until(lambda: ctx.link_up, "connected to this chair's cuff")
            async with SimCuff(NAME, vlink) as theirs:
                # dropped and back at once: the link's next scan hears both (taking the
                # other while this one is away is tests/ble/test_same_name.py's case)
                await ours.drop_link()
                await ours.restore_link()
                await ctx.until(lambda: not ctx.link_up, "the drop seen")
                await ctx.until(lambda: ours.connection is not None, "this chair's cuff back")
                await ours.send(bp(121.0), datetime.now(UTC))
                await theirs.send(bp(190.0), datetime.now(UTC))
                await ctx.until(lambda: ctx.link_up and bool(ctx.readings), "its reading")
                await asyncio.sleep(0.3)
                assert theirs.connection is None
    assert [r.values["sys_mmHg"] for r in ctx.readings] == [121.0]
    assert not any("devices advertise" in why for _up, why in ctx.links), ctx.links


async def test_episodic_cuff_record_is_fetched_while_the_next_chairs_advertises(
    vlink: VirtualBleLink,
) -> None:
    # Before: each wake-up of this chair's episodic cuff (it advertises only after a
    # measurement) met the next chair's cuff advertising too, and its record was never
    # fetched: both refused as one name at two addresses.
    ctx = RecordingContext(device="bp")
    async with SimCuff(NAME, vlink, episodic=True) as ours:
        async with by_name(vlink, ctx, quirks=["episodic"]):
            await ours.send(bp(118.0), datetime.now(UTC))
            await ctx.until(lambda: bool(ctx.readings), "the first record")
            await ctx.until(lambda: ours.connection is None, "the cuff asleep")
            async with SimCuff(NAME, vlink) as theirs:
                await ours.send(bp(124.0), datetime.now(UTC))
                await ctx.until(
                    lambda: 124.0 in [r.values["sys_mmHg"] for r in ctx.readings],
                    "the second record",
                )
                assert theirs.connection is None
    assert {r.values["sys_mmHg"] for r in ctx.readings} == {118.0, 124.0}


async def test_a_cuff_another_chair_here_reads_by_address_is_not_taken_by_name(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # One Pi serving two chairs: chair-2's cuff configured by its address, chair-1's by
    # name alone (check-config warns of chair-1 only). Before: chair-2's cuff, awake while
    # chair-2's link waited in its backoff between scans, was taken by chair-1's scan by
    # name (this chair's cuff off): chair-2's patient's 190/80 stored and alerted on as
    # chair-1's patient's, with nothing said.
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.ble_link")

    def told() -> list[str]:  # chair-1's lines naming chair-2's device
        lines = (r.getMessage() for r in caplog.records)
        return [m for m in lines if m.startswith("chair-1/bp:") and "chair-2/bp" in m]

    ours_ctx = RecordingContext(device="bp")
    theirs_ctx = RecordingContext(chair="chair-2", device="bp")
    theirs = SimCuff(NAME, vlink)
    slow = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=1000.0)
    dev2 = device_config(id="bp", driver="ble-bpm", name=NAME, address=theirs.address_str)
    client, scanner = backends(vlink)
    chair2 = asyncio.create_task(
        run_ble_device(
            dev2,
            DRIVERS[dev2.driver],
            theirs_ctx,
            client_backend=client,
            scanner_backend=scanner,
            timing=slow,
            rng=random.Random(1),
        )
    )
    try:
        # chair-2's cuff off at its first scan: its link now waits (its backoff)
        await theirs_ctx.until(lambda: theirs_ctx.links != [], "chair-2's first scan")
        async with by_name(vlink, ours_ctx):
            async with theirs:
                await theirs.send(bp(190.0), datetime.now(UTC))
                await ours_ctx.until(
                    lambda: bool(told()), "chair-1 said chair-2's cuff is heard, not taken"
                )
                assert theirs.connection is None
            async with SimCuff(NAME, vlink) as ours:  # this chair's cuff switched on
                await ours.send(bp(121.0), datetime.now(UTC))
                await ours_ctx.until(lambda: bool(ours_ctx.readings), "this chair's cuff read")
    finally:
        chair2.cancel()
        await asyncio.gather(chair2, return_exceptions=True)
    assert [r.values["sys_mmHg"] for r in ours_ctx.readings] == [121.0]
    assert f"{theirs.address_str} 'chair-2/bp'" in told()[0], told()
    assert "read by that device here, not taken" in told()[0], told()
