"""A BLE link down for one cause whose cause changes: the new cause (and its advice) is
told, not only journalled. Real bumble peripherals on the virtual link, bleak, the real
drivers/ble_link.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from monitord.drivers.ble_link import LinkTiming
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import RecordingContext
from .test_e2e_link import running

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)
NAME = "A&D_UA-651"
OFF = "C0:FF:EE:00:00:01"  # the chair's cuff, switched off


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


async def test_two_causes_alternating_are_journalled_once_each(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # The chair's cuff (by address) is off; the next chair's cuff, of the same service,
    # measures now and then (on the air, then not): each retry's cause alternates between
    # "its address is not seen while another advertises its service" and "no device". The
    # chair is told each change (its status shows the cause of now); the journal said
    # "BLE link down (...)" at INFO at every change, one line per retry for as long as the
    # cuff stayed off: each cause is said at INFO once an outage now, its returns at DEBUG.
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.ble_link")
    ctx = RecordingContext(device="bp")

    def now(others: bool) -> Callable[[], bool]:  # the cause told last: another advertiser?
        return lambda: bool(ctx.links) and ("advertising its service" in ctx.links[-1][1]) is others

    async with running(vlink, ctx, FAST, id="bp", driver="ble-bpm", address=OFF):
        await ctx.until(now(False), "device gone")
        for _ in range(3):
            async with SimCuff(NAME, vlink):
                await ctx.until(now(True), "address not seen")
            await ctx.until(now(False), "device gone again")
    assert not any(up for up, _ in ctx.links), ctx.links
    assert len(ctx.links) == 7, ctx.links  # each change told: the status shows the cause
    downs = [r for r in caplog.records if "BLE link down" in r.getMessage()]
    assert len(downs) == 7, [r.getMessage() for r in downs]
    infos = [r.getMessage() for r in downs if r.levelno == logging.INFO]
    assert len(infos) == 2, infos  # one each: "no device", "advertising its service"
    assert "advertising its service" in infos[1], infos
