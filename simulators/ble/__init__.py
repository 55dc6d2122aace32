"""BLE device simulators on an in-process bumble virtual link (see devices.py).

link = VirtualBleLink()
async with make_sim_device("ble-bpm", "SimCuff", link) as cuff:
    client_backend, scanner_backend = backends(link)
    ... run_ble_device(dev, desc, ctx, client_backend=..., scanner_backend=...)
    await cuff.send(SimEvent(Kind.BP, {"sys_mmHg": 120, ...}), at)
"""

from __future__ import annotations

from simulators.base import SimDevice
from simulators.ble.devices import SimCuff, SimOximeter, SimStrap
from simulators.ble.link import VirtualBleLink
from simulators.bleak_bumble import backends

_BY_DRIVER = {"ble-bpm": SimCuff, "ble-hrm": SimStrap, "ble-plx": SimOximeter}


def make_sim_device(driver_name: str, name: str, link: VirtualBleLink) -> SimDevice:
    """A simulated peripheral for a BLE driver name, advertising as `name` once entered."""
    try:
        cls = _BY_DRIVER[driver_name]
    except KeyError:
        raise ValueError(
            f"no BLE simulator for driver {driver_name!r} (known: {', '.join(_BY_DRIVER)})"
        ) from None
    return cls(name, link)  # type: ignore[return-value]


__all__ = ["SimCuff", "SimOximeter", "SimStrap", "VirtualBleLink", "backends", "make_sim_device"]
