"""`monitord scan [--seconds N]`: nearby BLE devices that advertise the Blood Pressure
(0x1810), Heart Rate (0x180D) or Pulse Oximeter (0x1822) service, with name, address,
RSSI, services, the model quirks that would apply (the BLE driver's own lookup), and the
`[[chairs.devices]]` lines to paste into the config.

stdout is a TOML fragment: each device is a comment line saying what was seen, then its
config block, so the whole output can be pasted under a `[[chairs]]` table (rename the
ids). Nothing found: a comment saying so, exit 0 (a cuff asleep between measurements does
not advertise: take a measurement, then scan). No usable adapter: one line, exit 69.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import IO

from monitord.cli import EX_OK, EX_USAGE, MAX_SECONDS, bad_seconds

EX_UNAVAILABLE = 69  # no Bluetooth adapter / BlueZ not reachable (sysexits.h)

# service UUID (bleak's 128-bit string) -> (short name, driver, config id)
_SERVICES: dict[str, tuple[int, str, str, str]] = {
    f"0000{short:04x}-0000-1000-8000-00805f9b34fb": (short, name, driver, dev_id)
    for short, name, driver, dev_id in (
        (0x1810, "blood pressure", "ble-bpm", "bp"),
        (0x1822, "pulse oximeter", "ble-plx", "spo2"),
        (0x180D, "heart rate", "ble-hrm", "hr"),
    )
}


# Run beside a monitord that reads this chair's cuff, the scan lists the other chairs'
# cuffs of the model only (a connected device does not advertise), each with an address
# ready to paste: configured so, the chair reads another patient's cuff with no warning.
NOT_LISTED = (
    "# a device connected now (to a running monitord, or to a phone) does not advertise "
    "and is not listed: stop monitord (`systemctl stop monitord`) and wake each device "
    "before choosing its address"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "List nearby BLE devices advertising the BP (0x1810), HR (0x180D) or PLX (0x1822) "
        "service, with the quirks that would apply and the config lines to paste. Stop "
        "the daemon first if the adapter is busy; wake a cuff by taking a measurement."
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, metavar="N", help="scan for N seconds (10)"
    )


@dataclass(frozen=True, slots=True)
class Found:
    name: str | None
    address: str
    rssi: int | None
    services: tuple[str, ...]  # the vital-signs services seen, e.g. ("0x1810 blood pressure",)
    driver: str
    quirks: tuple[str, ...]


def _found(name: str | None, address: str, rssi: int | None, uuids: list[str]) -> Found | None:
    from monitord.drivers.registry import DRIVERS

    ours = [_SERVICES[u.lower()] for u in uuids if u.lower() in _SERVICES]
    if not ours:
        return None
    # One device, one connection: the first service in _SERVICES order picks the driver
    # (a cuff that also offers heart rate is configured as a cuff).
    order = list(_SERVICES.values())
    ours.sort(key=order.index)
    driver = ours[0][2]
    profile = DRIVERS[driver].ble_profile
    quirks = tuple(sorted(profile.quirks_for(name, None))) if name and profile else ()
    services = tuple(f"0x{short:04X} {label}" for short, label, _, _ in ours)
    return Found(name, address, rssi, services, driver, quirks)


async def scan(seconds: float, *, scanner_backend: type | None = None) -> list[Found]:
    """Scan for `seconds`; devices sorted by signal strength (strongest first).
    `scanner_backend`: a bleak scanner backend (None: the platform's, BlueZ on the Pi)."""
    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    seen: dict[str, Found] = {}

    def on_adv(dev: BLEDevice, ad: AdvertisementData) -> None:
        name = ad.local_name or dev.name
        old = seen.get(dev.address)
        if not name and old is not None:
            name = old.name  # keep a name once heard: not every advertisement carries it
        f = _found(name, dev.address, ad.rssi, list(ad.service_uuids))
        if f is not None:
            seen[dev.address] = f

    scanner = (
        BleakScanner(on_adv, backend=scanner_backend)
        if scanner_backend is not None
        else BleakScanner(on_adv)
    )
    async with scanner:
        await asyncio.sleep(seconds)
    return sorted(seen.values(), key=lambda f: (-(f.rssi or -999), f.address))


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def config_lines(found: list[Found]) -> list[str]:
    """Comment + `[[chairs.devices]]` block per device, ids unique within the list."""
    lines: list[str] = []
    used: dict[str, int] = {}
    for f in found:
        base = _SERVICES[next(u for u, v in _SERVICES.items() if v[2] == f.driver)][3]
        used[base] = used.get(base, 0) + 1
        dev_id = base if used[base] == 1 else f"{base}-{used[base]}"
        rssi = f"{f.rssi} dBm" if f.rssi is not None else "unknown"
        lines += [
            f"# {f.name or '(no name)'}  {f.address}  RSSI {rssi}  "
            f"services: {', '.join(f.services)}  quirks: {', '.join(f.quirks) or 'none'}",
            "[[chairs.devices]]",
            f"id = {_toml_str(dev_id)}",
            f"driver = {_toml_str(f.driver)}",
        ]
        if f.name:
            lines.append(f"name = {_toml_str(f.name)}")
        # The address picks exactly this device (two cuffs of one model share a name);
        # delete it to take any device advertising the name.
        lines += [f"address = {_toml_str(f.address)}", ""]
    return lines


async def run(
    args: argparse.Namespace, *, scanner_backend: type | None = None, out: IO[str] | None = None
) -> int:
    """The command; `scanner_backend` as for `scan()` (tests pass a simulated link's)."""
    out = out or sys.stdout
    if bad_seconds("scan", "--seconds", args.seconds, MAX_SECONDS):
        return EX_USAGE
    try:
        found = await scan(args.seconds, scanner_backend=scanner_backend)
    except Exception as e:  # BlueZ/D-Bus/adapter trouble: one line with advice, no traceback
        from monitord.drivers.ble_errors import AdapterBusy, NoBluez, classify

        err = classify(e)
        # No D-Bus or no bluetoothd keeps its own advice (`bluetoothctl show` needs both).
        if not isinstance(err, AdapterBusy | NoBluez):  # anything else: the adapter's fault
            err = AdapterBusy(f"{type(e).__name__}: {e}")
        print(f"monitord scan: cannot scan: {err}", file=sys.stderr)
        return EX_UNAVAILABLE
    if not found:
        out.write(f"# no device advertising BP, HR or PLX services seen in {args.seconds:g} s\n")
        out.write(NOT_LISTED + "\n")
        return EX_OK
    out.write(f"# {len(found)} device(s) seen in {args.seconds:g} s; paste under [[chairs]]\n")
    out.write(NOT_LISTED + "\n")
    out.write("\n".join(config_lines(found)))
    return EX_OK


def main(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))
