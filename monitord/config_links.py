"""Two devices of a config that would read one device, or each other's: a serial port or
a BLE address named twice (an error), a BLE name without an address (a warning; named
twice, one naming the other device). Part of `check-config` (monitord/config_checks.py)."""

from __future__ import annotations

import os

from monitord.config import Config, where


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
    for i, chair in enumerate(cfg.chairs):
        for j, dev in enumerate(chair.devices):
            s = dev.settings
            if dev.simulate is not None:
                continue
            if isinstance(s, SerialLinkSettings) and s.port and "://" not in s.port:
                key, named, what = ("port", os.path.realpath(s.port)), s.port, "port"
            elif isinstance(s, BleLinkSettings) and s.address:
                address = s.address.upper().split("/")[0]
                key, named, what = ("address", address), s.address, "address"
            else:
                continue
            me = f"{chair.id}/{dev.id}"
            if (other := first.setdefault(key, me)) == me:
                continue
            same = "" if key[1] == named or what == "address" else f" (= {key[1]})"
            out.append(
                f"{where(cfg, source, f'chairs[{i}].devices[{j}].{what}')}: {named}{same} is "
                f"also {other}'s {what}: "
                + (
                    "a port has one reader (the other finds it busy for good)"
                    if what == "port"
                    else "a BLE device takes one connection (the other never connects)"
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
    for i, chair in enumerate(cfg.chairs):
        for j, dev in enumerate(chair.devices):
            s = dev.settings
            if dev.simulate is not None or not isinstance(s, BleLinkSettings) or not s.name:
                continue
            me = f"{chair.id}/{dev.id}"
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
