"""Faults of real BLE devices at a chair that end in no reading, each said in one line
with advice and a link down from the start (so `tech.device_lost` comes after its 30 s):
a cuff held by the vendor's phone app (connected to another central, it does not
advertise), and a device of the right name without the configured service (a firmware
variant). Real bumble peripherals on the virtual link, bleak, drivers/ble_link.py."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager

import pytest
from bleak import BleakClient
from bumble.hci import Address

from monitord.drivers.ble_link import LinkTiming
from monitord.simulators.ble import SimCuff, SimStrap, VirtualBleLink, backends

from .helpers import RecordingContext
from .test_e2e_link import running

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)
LOGGER = "monitord.drivers.ble_link"


def linked(
    vlink: VirtualBleLink, ctx: RecordingContext, **table: str
) -> AbstractAsyncContextManager[asyncio.Task[None]]:
    """A cuff by `address` or `name` (tests/ble/test_e2e_link.py `running`)."""
    return running(vlink, ctx, FAST, id="bp", driver="ble-bpm", **table)


def told(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == level and "retry in" in r.getMessage()
    ]


@pytest.mark.parametrize("by", ["address", "name"])
async def test_a_cuff_held_by_a_phone_is_down_from_the_start_with_the_phone_named(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture, by: str
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ctx = RecordingContext(device="bp")
    async with SimCuff("A&D_UA-651", vlink) as cuff:
        client, _scanner = backends(vlink)
        phone = BleakClient(cuff.address_str, backend=client, timeout=5.0)
        await phone.connect()  # the vendor's app: the cuff stops advertising
        try:
            target = cuff.address_str if by == "address" else "A&D_UA-651"
            async with linked(vlink, ctx, **{by: target}):
                await ctx.until(lambda: len(told(caplog, logging.DEBUG)) >= 2, "retries")
        finally:
            await phone.disconnect()
    assert [up for up, _ in ctx.links] == [False], ctx.links
    why = ctx.links[0][1]
    assert why.startswith(f"no device with {by} "), why
    assert why.endswith("(check the device is switched on, in range and not connected to a phone)")
    assert len(told(caplog, logging.WARNING)) == 1


async def test_a_device_without_the_service_is_one_line_not_a_crash_loop(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # the right name, the wrong firmware: a heart-rate service, no blood pressure one
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ctx = RecordingContext(device="bp")
    async with SimStrap("A&D_UA-651", vlink) as strap:
        async with linked(vlink, ctx, name="A&D_UA-651"):
            await ctx.until(lambda: len(told(caplog, logging.DEBUG)) >= 2, "retries")
    assert [up for up, _ in ctx.links] == [False], ctx.links
    assert ctx.links[0][1] == (
        f"{strap.address_str} has none of 0x2A36 intermediate cuff pressure, 0x2A35 blood "
        "pressure measurement (the device lacks the expected GATT service: check "
        "`driver` for this device)"
    )
    assert len(told(caplog, logging.WARNING)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


IRK = bytes(range(16))  # the cuff's identity resolving key, known to no central here


class RotatingCuff(SimCuff):
    """A cuff advertising at a resolvable private address made from its IRK: a new one
    each time it is made, as a device that rotates its address every ~15 min looks to a
    central that is not bonded with it (and so cannot resolve it)."""

    def _new_address(self) -> Address:
        return Address.generate_private_address(IRK)


async def test_a_cuff_by_address_that_rotates_it_is_said_with_where_it_is_now(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: "no device with address 41:... seen in 0.5 s (check the device is switched
    # on, in range and not connected to a phone)" while the cuff was on, in range and
    # advertising at its new address; nothing pointed at the address or at pairing.
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ctx = RecordingContext(device="bp")
    async with RotatingCuff("A&D_UA-651", vlink) as before:
        assert before.address.is_resolvable
        async with linked(vlink, ctx, address=before.address_str):
            await ctx.until(lambda: ctx.link_up, "connected at its first address")
            async with RotatingCuff("A&D_UA-651", vlink) as after:
                await before.drop_link()  # (its old address is gone from the air)
                await ctx.until(lambda: len(told(caplog, logging.DEBUG)) >= 2, "retries")
    assert after.address_str != before.address_str
    # lost ("disconnected by the device"), then its cause told: not on the air at that
    # address (before, the first cause stayed: the advice below was only in the journal)
    assert [up for up, _ in ctx.links] == [True, False, False], ctx.links
    assert "it changes its address: pair it on the hub once" in ctx.links[2][1], ctx.links
    [why] = told(caplog, logging.WARNING)
    assert why.startswith(
        f"chair-1/bp: no device with address {before.address_str} seen in 0.5 s; "
        f"advertising its service: {after.address_str} 'A&D_UA-651' (RSSI "
    ), why
    assert "it changes its address: pair it on the hub once" in why, why
    assert ctx.readings == []
