"""The hub's Bluetooth adapter as its BLE devices' links see it: gone (said once for the
hub, not once per device) or answering again.

The memory is an object's, one per adapter: BlueZ's on a Pi (one process, one default
adapter), a simulated link's `HostAdapter` in tests and simulations. It was a module set
of `id()`s of the simulated air, cleared only when a device connected: a hub whose devices
did not connect between two losses of its adapter (cuffs asleep between measurements,
oximeters off between patients) said the second one at DEBUG, nothing in the journal; two
hubs on one simulated air (two daemons in one test process) said one of their adapters;
and an id() may be reused by a new air once the old one is gone.
"""

from __future__ import annotations

import logging
import weakref

log = logging.getLogger(__name__)


class HubAdapter:
    """One adapter; each device's link tells it what its last attempt met."""

    def __init__(self) -> None:
        self.gone_said = False  # its loss said at WARNING, and not seen answering since

    def first_gone(self) -> bool:
        """A device found the adapter gone: True for the first (it says so for the hub)."""
        first, self.gone_said = not self.gone_said, True
        return first

    def answers(self, how: str) -> None:
        """A device's scan ran (it found its device, or ended without it) or a device
        connected: the adapter is there, and its next loss is said again. Only these: an
        operation already under way when the adapter went (a connect, a GATT call) may
        fail with another error after the loss was said, and is no sign of it back."""
        if self.gone_said:
            self.gone_said = False
            log.info("the hub's Bluetooth adapter answers again (%s)", how)


_BLUEZ = HubAdapter()  # the Pi's: bleak's BlueZ backend uses the default adapter
_simulated: weakref.WeakKeyDictionary[object, HubAdapter] = weakref.WeakKeyDictionary()


def hub_of(scanner_backend: type | None) -> HubAdapter:
    """The adapter a scanner backend scans through: BlueZ's (None), or a simulated link's
    `HostAdapter` (simulators/bleak_bumble.py `backends`), else the backend's own."""
    if scanner_backend is None:
        return _BLUEZ
    key = getattr(scanner_backend, "_adapter", None) or scanner_backend
    return _simulated.setdefault(key, HubAdapter())


__all__ = ["HubAdapter", "hub_of"]
