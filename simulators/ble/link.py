"""One in-process Bluetooth LE "air": a bumble LocalLink that controllers join.

Every simulated peripheral and every central (a bleak client or scanner through
monitord.simulators.bleak_bumble) gets its own bumble Controller on the same `LocalLink`, so
advertising, connecting, GATT and disconnects go through bumble's real link layer and
host stacks, in the running event loop, without a radio or BlueZ.
"""

from __future__ import annotations

import itertools

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink


class VirtualBleLink:
    """The shared air. Create one per test or simulated chair, inside a running loop."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._ids = itertools.count(1)
        self._controllers: dict[int, Controller] = {}

    def new_address(self, role: int) -> Address:
        """A fresh random static address (top two bits set): C{role}:00:00:00:xx:xx."""
        n = next(self._ids)
        return Address(
            f"C{role:X}:00:00:00:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}",
            Address.RANDOM_DEVICE_ADDRESS,
        )

    def new_device(self, name: str, address: Address | None = None) -> Device:
        """A bumble host + controller on this link (not powered on yet)."""
        address = address or self.new_address(0xE)
        controller = Controller(name, link=self.link)
        device = Device(
            name=name, address=address, host=Host(controller, AsyncPipeSink(controller))
        )
        self._controllers[id(device)] = controller
        return device

    def remove_device(self, device: Device) -> None:
        """Take a device's controller off the air (after it is closed)."""
        controller = self._controllers.pop(id(device), None)
        if controller is not None and controller in self.link.controllers:
            self.link.remove_controller(controller)
