"""A device configured by `name` alone, once connected, is known by its address: its
reconnects (a strap or oximeter after a drop, an episodic cuff after each measurement)
take that address again at once, without the name window, also while another device of
the name advertises. Real bumble peripherals on the virtual link, bleak, the real
drivers/ble_link.py (tests/ble/test_same_name.py: the first connection)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from monitord.simulators.ble import SimCuff, VirtualBleLink

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
