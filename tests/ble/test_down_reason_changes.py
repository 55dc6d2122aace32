"""A BLE link down for one cause whose cause changes: the new cause (and its advice) is
told, not only journalled. Real bumble peripherals on the virtual link, bleak, the real
drivers/ble_link.py."""

from __future__ import annotations

from monitord.drivers.ble_link import LinkTiming
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import RecordingContext
from .test_e2e_link import running

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)
NAME = "A&D_UA-651"


async def test_a_down_whose_cause_changes_tells_the_new_cause(vlink: VirtualBleLink) -> None:
    # The chair's cuff is off (device gone: "switch it on, bring it in range"); then it
    # and the next chair's cuff of the same model are on: the cause is now the name two
    # devices advertise ("set `address`"). Before, the link loop dropped every down after
    # the first, so `monitord status` kept "switch it on" while the cuff was on and the
    # fix was in the config; the new cause was only in the journal.
    ctx = RecordingContext(device="bp")
    async with running(vlink, ctx, FAST, id="bp", driver="ble-bpm", name=NAME):
        await ctx.until(lambda: bool(ctx.links), "the first down")
        assert ctx.links[0][0] is False and "switched on" in ctx.links[0][1], ctx.links
        async with SimCuff(NAME, vlink), SimCuff(NAME, vlink):
            await ctx.until(
                lambda: any("2 devices advertise" in why for _up, why in ctx.links),
                "the new cause told",
            )
    assert not any(up for up, _ in ctx.links), ctx.links
    # each cause told once, not at every retry of it
    downs = [why.partition(":")[0] for _up, why in ctx.links]
    assert len(downs) == 2, ctx.links
