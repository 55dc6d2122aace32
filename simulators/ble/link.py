"""One in-process Bluetooth LE "air": a bumble LocalLink that controllers join.

Every simulated peripheral and every central (a bleak client or scanner through
monitord.simulators.bleak_bumble) gets its own bumble Controller on the same `LocalLink`, so
advertising, connecting, GATT and disconnects go through bumble's real link layer and
host stacks, in the running event loop, without a radio or BlueZ.

`hang_up()` ends a connection from one side within a few seconds whatever the other side
does. A plain bumble disconnect waits for its completion with no timeout, and when the peer
left the air without disconnecting (its controller taken off the link) the controller
raises on sending the disconnect to it, after telling the host it is pending: the
completion never comes, and every teardown that disconnected waited forever. Both sides
hanging up at once is one disconnect: the second waits for the first's.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

# Each wait of a disconnect, in seconds: on this link a peer that is there answers at once.
TEARDOWN_WAIT_S = 2.0


class VirtualBleLink:
    """The shared air. Create one per test or simulated chair, inside a running loop."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._ids = itertools.count(1)
        self._controllers: dict[int, Controller] = {}
        # Connections being hung up, as the pair of controllers (either side's view of it).
        self._hanging_up: set[frozenset[int]] = set()

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

    def on_air(self, address: Address) -> bool:
        """Whether a controller answers to `address` on this link (bumble's own lookup: a
        disconnect sent to an address it does not find raises in the sender's controller,
        which then never completes the disconnect)."""
        return self.link.find_le_controller(address) is not None

    async def hang_up(
        self,
        device: Device,
        connection: Connection,
        reason: int = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR,
    ) -> str | None:
        """Disconnect `connection` from `device`'s side within a few seconds whatever the
        peer does. None when it ended; else why it was closed on this side only, as a
        controller does when its peer stops answering (supervision timeout): the host is
        told the connection ended and emits its disconnection."""
        gone = asyncio.Event()

        def ended(_reason: int) -> None:
            gone.set()

        connection.on(connection.EVENT_DISCONNECTION, ended)
        controller = self._controllers.get(id(device))
        peer = self.link.find_le_controller(connection.peer_address)
        pair = frozenset({id(controller), id(peer)})
        crossing = controller is not None and peer is not None and pair in self._hanging_up
        self._hanging_up.add(pair)
        try:
            if not self.on_air(connection.peer_address):
                why = "it left the air without disconnecting"
            elif crossing:
                # The peer is hanging up this connection itself (at a stop, the central's
                # disconnect and the peripheral's exit in the same turn of the loop): its
                # terminate ends it here. A second one crossed it on the air, and each
                # controller, its connection already dropped, logged an ERROR for the
                # other's ("Cannot find a connection for ...").
                why = "the peer's disconnect did not arrive"
                await within(gone.wait())
            elif controller is None or not controller.find_le_connection_by_handle(
                connection.handle
            ):
                # Its disconnection may be on the way to the host: give it the time.
                why = "the controller no longer holds the connection"
                await within(gone.wait())
            else:
                try:
                    if await within(connection.disconnect(reason)):
                        return None
                    why = f"disconnect not done in {TEARDOWN_WAIT_S:g} s"
                except Exception as e:  # e.g. the connection ended meanwhile
                    why = f"disconnect failed: {type(e).__name__}: {e}".rstrip(": ")
            if gone.is_set():
                return None
            if controller is not None:
                self._close_locally(controller, connection)
                await within(gone.wait())  # the host has let go of it
            return why
        finally:
            if not crossing:
                self._hanging_up.discard(pair)
            connection.remove_listener(connection.EVENT_DISCONNECTION, ended)

    @staticmethod
    def _close_locally(controller: Controller, connection: Connection) -> None:
        """Tell the host `connection` ended (reason: connection timeout) and drop it from
        the controller, sending nothing over the air."""
        held = controller.find_le_connection_by_handle(connection.handle)
        if held is not None:
            controller.on_le_disconnected(held, hci.HCI_CONNECTION_TIMEOUT_ERROR)
        else:  # the host alone still has it
            controller.send_hci_packet(
                hci.HCI_Disconnection_Complete_Event(
                    status=hci.HCI_ErrorCode.SUCCESS,
                    connection_handle=connection.handle,
                    reason=hci.HCI_CONNECTION_TIMEOUT_ERROR,
                )
            )


async def within(wait: Coroutine[Any, Any, object]) -> bool:
    """Run `wait` for at most TEARDOWN_WAIT_S; False if it did not end in that time."""
    try:
        async with asyncio.timeout(TEARDOWN_WAIT_S):
            await wait
    except TimeoutError:
        return False
    return True
