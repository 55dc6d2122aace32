"""Finding the configured BLE device on the air (drivers/ble_link.py's SCANNING state).

By `address`: the first advertiser with that address. By `name`: every device of one
model advertises the same name (two A&D UA-651BLE cuffs both say "A&D_UA-651"), so the
first advertiser of the name may be the next chair's cuff, and its readings would be
stored and alerted on as this chair's patient's. After the first advertiser of the name
the scan goes on for a short window; two or more addresses advertising it is refused
(`AmbiguousName`: no connection, the link stays down, so `tech.device_lost` comes), with
the addresses to configure. A name seen at one address only is taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from monitord.drivers.ble_errors import AmbiguousName, DeviceGone
from monitord.drivers.ble_gatt import BleLinkSettings, BleProfile


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
    target: BleLinkSettings, profile: BleProfile, timing: ScanTiming, scanner_backend: type | None
) -> BLEDevice:
    """The device to connect to, or a `DeviceGone` / `AmbiguousName` error."""
    what, match = _matcher(target, profile)
    kwargs: dict[str, Any] = {}
    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    if target.address or not target.name:
        # an address is one device; no address nor name: simulated chairs only (the
        # config requires one of them otherwise), each on its own virtual link
        found = await BleakScanner.find_device_by_filter(
            match, timeout=timing.scan_timeout_s, **kwargs
        )
        if found is None:
            raise DeviceGone(f"no device with {what} seen in {timing.scan_timeout_s:g} s")
        return found
    seen: dict[str, tuple[BLEDevice, int]] = {}  # address -> (device, strongest RSSI)
    first = asyncio.Event()

    def on_adv(dev: BLEDevice, ad: AdvertisementData) -> None:
        if not match(dev, ad):
            return
        rssi = max(ad.rssi, seen[dev.address][1]) if dev.address in seen else ad.rssi
        seen[dev.address] = (dev, rssi)
        first.set()

    async with BleakScanner(detection_callback=on_adv, **kwargs):
        try:
            async with asyncio.timeout(timing.scan_timeout_s):
                await first.wait()
        except TimeoutError:
            raise DeviceGone(f"no device with {what} seen in {timing.scan_timeout_s:g} s") from None
        await asyncio.sleep(name_window(timing))
    if len(seen) > 1:
        heard = ", ".join(
            f"{address} (RSSI {rssi} dBm)"
            for address, (_d, rssi) in sorted(seen.items(), key=lambda kv: -kv[1][1])
        )
        raise AmbiguousName(
            f"{len(seen)} devices advertise {what}: {heard}; not connecting to any, one may "
            "be another chair's"
        )
    [(dev, _rssi)] = seen.values()
    return dev
