"""Two devices of a config that would read one device, or each other's: a serial port (a
tty, or a serial-over-LAN `socket://` URL) or a BLE address named twice (an error), a BLE
name without an address (a warning; named twice, one naming the other device), a serial
port named by the kernel's number (a warning: a reboot may give it to another adapter).
Part of `check-config` (monitord/config_checks.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

from monitord.config import Config, DeviceConfig, where


def _real_devices(cfg: Config) -> Iterator[tuple[int, int, str, DeviceConfig]]:
    """Each device read from hardware (not simulated): its chair's and its own index in
    the config, and `chair/device`."""
    for i, chair in enumerate(cfg.chairs):
        for j, dev in enumerate(chair.devices):
            if dev.simulate is None:
                yield i, j, f"{chair.id}/{dev.id}", dev


def _url_key(url: str) -> str | None:
    """A pyserial URL as the network endpoint it names: scheme and host in lower case,
    without options (`?logging=debug`); None for one naming no host and port (`loop://`)."""
    try:
        u = urlsplit(url)
        host, port = u.hostname, u.port
    except ValueError:
        return None
    return f"{u.scheme.lower()}://{host}:{port}" if host and port else None


def shared_links(cfg: Config, source: str) -> list[str]:
    """A serial port or a BLE address named by two devices (of one chair or two): the
    port takes one reader (the exclusive lock: the other finds it busy for good, and the
    two swap it on every reconnect), a BLE device one connection. Either way a device is
    never read while the config looks fine. Ports are compared by the device they name
    (a /dev/serial/by-id/ link and its /dev/ttyUSB0 are one port)."""
    from monitord.drivers.ble_gatt import BleLinkSettings
    from monitord.drivers.serial_link import SerialLinkSettings

    out: list[str] = []
    first: dict[tuple[str, str], str] = {}  # (kind, the port or address) -> chair/device
    for i, j, me, dev in _real_devices(cfg):
        s = dev.settings
        if isinstance(s, SerialLinkSettings) and s.port and "://" in s.port:
            # A serial-over-LAN port (socket://HOST:PORT) serves one client too (the newest
            # takes it): copied to the next chair, each took it from the other, neither
            # read steadily, and a patient's alarm went unraised (skipped here before).
            if (endpoint := _url_key(s.port)) is None:
                continue
            key, named, what = ("port", endpoint), s.port, "port"
        elif isinstance(s, SerialLinkSettings) and s.port:
            key, named, what = ("port", os.path.realpath(s.port)), s.port, "port"
        elif isinstance(s, BleLinkSettings) and s.address:
            address = s.address.upper().split("/")[0]
            key, named, what = ("address", address), s.address, "address"
        else:
            continue
        if (other := first.setdefault(key, me)) == me:
            continue
        same = "" if key[1] == named or what == "address" else f" (= {key[1]})"
        out.append(
            f"{where(cfg, source, f'chairs[{i}].devices[{j}].{what}')}: {named}{same} is "
            f"also {other}'s {what}: "
            + (
                "a BLE device takes one connection (the other never connects)"
                if what == "address"
                else "a serial-over-LAN port serves one client (the two take it from each "
                "other: neither is read steadily)"
                if "://" in named
                else "a port has one reader (the other finds it busy for good)"
            )
            + "; give each device its own"
        )
    return out


def shared_names(cfg: Config, source: str) -> list[str]:
    """A BLE device configured by `name` alone whose name another device also names.
    Cuffs of one model advertise one name, so each chair's device is whichever advertises
    it: with both in range, the link refuses the name (drivers/ble_find.py: both chairs'
    `tech.device_lost`); with one, both chairs may read it (one patient's readings as
    another's). A warning, not an error: refusing the config would stop every chair's
    monitoring at an upgrade, where the link's refusal stops these devices only."""
    from monitord.drivers.ble_gatt import BleLinkSettings

    naming: dict[str, list[str]] = {}  # advertised name -> the chair/devices naming it
    by_name: list[tuple[int, int, str, str]] = []  # devices found by name alone
    for i, j, me, dev in _real_devices(cfg):
        s = dev.settings
        if isinstance(s, BleLinkSettings) and s.name:
            naming.setdefault(s.name, []).append(me)
            if not s.address:
                by_name.append((i, j, s.name, me))
    out: list[str] = []
    for i, j, name, me in by_name:
        others = [d for d in naming[name] if d != me]
        if not others:
            # One chair per Pi: no other device of this config names it, but the next
            # chair's cuff of the model (its own Pi) advertises the same name; whenever
            # this one is off or out of range that one is taken, its patient's readings
            # stored and alerted on as this chair's (drivers/ble_find.py can refuse only
            # two heard at once). Said, not refused: whether `address` is required is
            # the planners' (a model may put its serial in its name).
            out.append(
                f"{where(cfg, source, f'chairs[{i}].devices[{j}].name')}: warning: {name!r} "
                "without an address: a device of the same model in range (the next "
                "chair's) is read as this chair's whenever this one is off or out of "
                "range; set `address` (`monitord scan` lists them) unless this model's "
                "name is unique to each device"
            )
            continue
        out.append(
            f"{where(cfg, source, f'chairs[{i}].devices[{j}].name')}: warning: {name!r} is "
            f"also {others[0]}'s name and this device has no address: devices of one model "
            "advertise one name, so this chair may read the other's device (another "
            "patient's readings); set `address` (`monitord scan` lists them)"
        )
    return out


# The names Linux gives USB serial adapters (usb-serial: FTDI, Prolific, CH340, CP210x; and
# cdc-acm) in the order they enumerate, which a reboot or a replug may change. Not ttyAMA
# or ttyS: a Pi's own UARTs (and a PC's) are numbered by the board, the same at each boot.
def numbered_ports(cfg: Config, source: str) -> list[str]:
    """A real serial device on a kernel-numbered port (/dev/ttyUSB0): the number goes to
    whichever adapter enumerates first, so after a reboot or a replug it may be another
    device's. With another serial device of the same driver on this machine the two can
    swap silently (each chair decodes the other's patient, stored and alerted on as its
    own); with another of another driver neither decodes (both lost); alone, another USB
    serial device (a second adapter, a USB modem) may take its number (this one lost).
    A warning, not an error: refusing the config would stop monitoring at an upgrade."""
    from monitord.drivers.serial_link import BY_ID_ADVICE, KERNEL_NUMBERED, SerialLinkSettings

    serial: list[tuple[int, int, str, str, str]] = []  # (i, j, chair/device, driver, port)
    for i, j, me, dev in _real_devices(cfg):
        s = dev.settings
        # socket:// and the like: no adapter to renumber
        if isinstance(s, SerialLinkSettings) and s.port and "://" not in s.port:
            serial.append((i, j, me, dev.driver, s.port))
    out: list[str] = []
    for i, j, me, driver, port in serial:
        if not KERNEL_NUMBERED.fullmatch(os.path.normpath(port)):
            continue
        # Any other adapter counts, a by-id one too: after a renumbering this port may
        # be the very tty that other device's link now points at. Each other device as
        # (another chair's?, chair/device, driver), another chair's first (in config
        # order): a swap with it reads another patient.
        others = [(oi != i, who, d) for oi, _, who, d, _ in serial if who != me]
        others.sort(key=lambda o: not o[0])
        same = [(elsewhere, who) for elsewhere, who, d in others if d == driver]
        if same and same[0][0]:
            risk = (
                f"with {same[0][1]}'s adapter (the same driver) on this machine the two "
                "may swap, each chair then reading the other's patient with no fault shown"
            )
        elif same:
            risk = (
                f"with {same[0][1]}'s adapter (the same driver) on this machine the two "
                "may swap, each device's readings then stored as the other's"
            )
        elif others:
            risk = (
                f"with {others[0][1]}'s adapter on this machine the two may swap, and "
                "neither decodes the other's device: both lost"
            )
        else:
            risk = (
                "another USB serial device (a second adapter, a USB modem) may take its "
                "number: this device then lost"
            )
        out.append(
            f"{where(cfg, source, f'chairs[{i}].devices[{j}].port')}: warning: {port} is "
            "numbered by the kernel in the order USB adapters appear, which a reboot or "
            f"a replug can change: {risk}; {BY_ID_ADVICE}"
        )
    return out
