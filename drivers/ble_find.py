"""Finding the configured BLE device on the air (drivers/ble_link.py's SCANNING state).

By `address`: the first advertiser with that address. By `name`: every device of one
model advertises the same name (two A&D UA-651BLE cuffs both say "A&D_UA-651"), so the
first advertiser of the name may be the next chair's cuff, and its readings would be
stored and alerted on as this chair's patient's. After the first advertiser of the name
the scan goes on for a short window; two or more addresses advertising it is refused
(`AmbiguousName`: no connection, the link stays down, so `tech.device_lost` comes), with
the addresses to configure. A name seen at one address only is taken. Once connected,
the device is known by its address (`known`): a reconnect takes that address as soon as
it is heard, without the window, also while another device of the name advertises (a
strap back after a drop had 3 s more gap in its readings, an episodic cuff's wake-up 3 s
more before it is fetched, and either was refused, lost, once the next chair's device of
the model was on).

By `address`, a device not seen while others advertise the profile's service is said
with them (`AddressNotSeen`): a device whose address rotates (a resolvable private
address, new every ~15 min on many devices; BlueZ knows it by its own address only once
paired) is one of them, and "check it is switched on and in range" sent the engineer to a
device that was on, in range and advertising.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from monitord.drivers.ble_errors import AddressNotSeen, AmbiguousName, DeviceGone
from monitord.drivers.ble_gatt import BleLinkSettings, BleProfile

# Addresses read by a device of this daemon, on each air (the adapter; a simulated link):
# configured as its `address`, or connected to by its `name` in this run. A scan by name or
# service never takes one for another device: one Pi serving two chairs, chair-2's cuff by
# address, waking (an episodic cuff) while chair-2's link waited in its backoff, was taken by
# chair-1's scan by name: chair-2's patient's reading stored and alerted on as chair-1's,
# and lost to chair-2 (a cuff pushes a record once; Omron X4 deletes it after transfer).
_claims: dict[tuple[int, str], tuple[str, object]] = {}  # (air, ADDRESS) -> (owner, token)


def air(scanner_backend: type | None) -> int:
    """Which air a scanner hears: the adapter (None), or a bumble backend's virtual link."""
    return id(getattr(scanner_backend, "_vlink", None))


def claim(on: int, address: str, owner: str, token: object) -> None:
    """`owner` ("chair/device") reads `address` on air `on`; `token` is the run that says so
    (its last claim replaces its earlier one; a restarted device's old run, ending late,
    releases its own claims only)."""
    release(token)
    _claims[(on, address.split("/")[0].upper())] = (owner, token)


def release(token: object) -> None:
    for key in [k for k, (_o, t) in _claims.items() if t is token]:
        del _claims[key]


class ScanTiming(Protocol):
    @property
    def scan_timeout_s(self) -> float: ...

    @property
    def name_window_s(self) -> float: ...


def _matcher(
    target: BleLinkSettings, profile: BleProfile
) -> tuple[str, Callable[[BLEDevice, AdvertisementData], bool]]:
    if target.address:
        wanted = target.address.split("/")[0].upper()
        return f"address {wanted}", lambda d, ad: d.address.upper() == wanted
    if target.name:
        name = target.name
        return f"name {name!r}", lambda d, ad: ad.local_name == name or d.name == name
    service = profile.service_uuid.lower()
    return f"service {service}", lambda d, ad: service in (u.lower() for u in ad.service_uuids)


def name_window(timing: ScanTiming) -> float:
    """How long a scan by name goes on after the first advertiser of the name: long
    enough for a second one advertising every second or so (production: 3 s), never more
    than a quarter of the scan (tests' virtual peripherals advertise every 20 ms)."""
    return min(timing.name_window_s, timing.scan_timeout_s / 4)


async def find(
    target: BleLinkSettings,
    profile: BleProfile,
    timing: ScanTiming,
    scanner_backend: type | None,
    known: str | None = None,
    owner: str = "",
) -> BLEDevice:
    """The device to connect to, or a `DeviceGone` / `AmbiguousName` error. `known`: the
    address a device by name was last connected at (taken at once when heard). `owner`
    ("chair/device"): by name or service, addresses other devices claimed are not taken."""
    what, match = _matcher(target, profile)
    service = profile.service_uuid.lower()
    kwargs: dict[str, Any] = {}
    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    by_name = bool(target.name and not target.address)
    known_up = (known or "").upper()
    seen: dict[str, tuple[BLEDevice, int]] = {}  # address -> (device, strongest RSSI)
    others: dict[str, tuple[str | None, int]] = {}  # the service's other advertisers
    first = asyncio.Event()
    again = asyncio.Event()  # the known address heard: no window

    held: dict[str, tuple[str | None, int]] = {}  # matching, but another device's
    on = air(scanner_backend)

    def on_adv(dev: BLEDevice, ad: AdvertisementData) -> None:
        other = _claims.get((on, dev.address.upper()), (owner, None))[0]
        if match(dev, ad) and other != owner and not target.address:
            held[dev.address] = (other, ad.rssi)
        elif match(dev, ad):
            rssi = max(ad.rssi, seen[dev.address][1]) if dev.address in seen else ad.rssi
            seen[dev.address] = (dev, rssi)
            first.set()
            if known is not None and dev.address.upper() == known_up:
                again.set()
        elif service in (u.lower() for u in ad.service_uuids):
            rssi = max(ad.rssi, others[dev.address][1]) if dev.address in others else ad.rssi
            others[dev.address] = (ad.local_name or dev.name, rssi)

    async with BleakScanner(detection_callback=on_adv, **kwargs):
        try:
            async with asyncio.timeout(timing.scan_timeout_s):
                await first.wait()
        except TimeoutError:
            gone = f"no device with {what} seen in {timing.scan_timeout_s:g} s"
            if target.address and others:
                raise AddressNotSeen(f"{gone}; advertising its service: {_heard(others)}") from None
            if held:
                # (the owner in the name's place: "C4:..:66 'chair-2/bp' (RSSI -60 dBm)")
                gone += f" but {_heard(held)}, read by that device here, not taken"
            raise DeviceGone(gone) from None
        if by_name and not again.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(name_window(timing)):
                    await again.wait()
    if again.is_set():
        return next(dev for address, (dev, _r) in seen.items() if address.upper() == known_up)
    if len(seen) > 1:
        heard = _heard({address: (None, rssi) for address, (_d, rssi) in seen.items()})
        raise AmbiguousName(
            f"{len(seen)} devices advertise {what}: {heard}; not connecting to any, one may "
            "be another chair's"
        )
    return next(iter(seen.values()))[0]


def _heard(devices: dict[str, tuple[str | None, int]], most: int = 3) -> str:
    """`C4:..:33 'A&D_UA-651' (RSSI -52 dBm), ...`: the strongest `most`, and how many more."""
    ranked = sorted(devices.items(), key=lambda kv: -kv[1][1])
    out = ", ".join(
        f"{address}{f' {name!r}' if name else ''} (RSSI {rssi} dBm)"
        for address, (name, rssi) in ranked[:most]
    )
    return out + (f" and {len(ranked) - most} more" if len(ranked) > most else "")
