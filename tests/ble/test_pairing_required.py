"""A BLE device that talks to a paired hub only: its subscription (the CCCD write) is
answered "insufficient authentication". The A&D UA-651BLE needs pairing before it sends
data (obniz, `parts/Ble/UA651BLE` README: hold the start button until `Pr` shows). A real
bumble peripheral whose CCCDs require an authenticated link, on the virtual link, bleak,
the real drivers/ble_link.py; the bleak backend answers as BlueZ does when its own attempt
to pair fails (simulators/bleak_bumble.py `_as_bluez`)."""

from __future__ import annotations

import logging

import pytest
from bumble.att import Attribute
from bumble.core import UUID
from bumble.gatt import (
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    Descriptor,
    Service,
)

from monitord.drivers.ble_link import LinkTiming
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import RecordingContext
from .test_e2e_link import running

FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.01)
LOGGER = "monitord.drivers.ble_link"


class PairedOnlyCuff(SimCuff):
    """A cuff whose measurement and cuff-pressure CCCDs take a write on an authenticated
    (paired) link only; the central is not paired."""

    def _services(self) -> list[Service]:
        [svc] = super()._services()
        for ch in (self.bpm, self.icp):
            ch.descriptors = [
                Descriptor(
                    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
                    Attribute.READABLE
                    | Attribute.WRITEABLE
                    | Attribute.WRITE_REQUIRES_AUTHENTICATION,
                    bytes(2),
                )
            ]
        return [Service(UUID.from_16_bits(0x1810), list(svc.characteristics))]


async def test_a_cuff_that_needs_pairing_says_pair_it_once_and_stays_down(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: "ATT_Error(error=INSUFFICIENT_AUTHENTICATION ...) (retrying; if this
    # repeats, move the device closer to the hub)": a Transient, retried every 15 s at
    # most, sending the engineer to move a cuff no retry would ever read.
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    ctx = RecordingContext(device="bp")
    async with PairedOnlyCuff("A&D_UA-651", vlink) as cuff:
        async with running(vlink, ctx, FAST, id="bp", driver="ble-bpm", address=cuff.address_str):
            await ctx.until(
                lambda: sum("retry in" in r.getMessage() for r in caplog.records) >= 3,
                "three refused subscriptions",
            )
    assert ctx.links and [up for up, _ in ctx.links] == [False], ctx.links  # no flapping
    why = ctx.links[0][1]
    # BlueZ's own words for ATT 0x05 (simulators/bleak_bumble.py `_as_bluez`); before,
    # said "(retrying; if this repeats, move the device closer to the hub)"
    assert why.startswith(
        "enabling 0x2A36 intermediate cuff pressure: BleakDBusError: "
        "[org.bluez.Error.NotPermitted] Not paired (the device accepts only a paired hub"
    ), why
    pair = f"`pair {cuff.address_str}`, `trust {cuff.address_str}`"
    assert pair in why and "closer" not in why, why
    refused = [r for r in caplog.records if "retry in" in r.getMessage()]
    # said once at WARNING, the retries at DEBUG
    assert [r.levelno for r in refused][:3] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert ctx.readings == [] and cuff.indications_confirmed == 0
