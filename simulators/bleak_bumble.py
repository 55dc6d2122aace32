"""A bleak backend that talks to bumble peripherals on a `VirtualBleLink`.

`bleak.BleakClient(..., backend=C)` and `bleak.BleakScanner(..., backend=S)` accept any
`BaseBleakClient` / `BaseBleakScanner` subclass (bleak >= 0.18). `backends(link)` returns
such a pair bound to one virtual link, so the daemon's BLE code (drivers/ble_link.py)
runs unchanged: only the classes passed as `client_backend` / `scanner_backend` differ
from production, where they are None and bleak picks BlueZ.

Each client or scanner instance is its own central (bumble Device + Controller) on the
link, like separate adapters: a stuck connect in one never blocks another. All of them
stand for the hub's one adapter (`HostAdapter`): unplugging it ends every connection and
makes every scan and connect fail as bleak's BlueZ backend then fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
)
from bleak.uuids import normalize_uuid_str
from bumble import att, hci
from bumble.core import UUID
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic

from monitord.simulators.ble.link import TEARDOWN_WAIT_S, VirtualBleLink, within

log = logging.getLogger(__name__)
_background: set[asyncio.Task[None]] = set()
_warned: set[str] = set()  # peripherals whose one-sided close was told at WARNING

_PROPS: tuple[tuple[Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
)


# ATT errors of a GATT request, raised as BlueZ raises them through bleak. BlueZ answers
# the security codes, insufficient authentication 0x05, encryption key size 0x0C and
# encryption 0x0F (a device that needs pairing), with one D-Bus error of its own:
# `org.bluez.Error.NotPermitted` "Not paired" (BlueZ src/gatt-client.c,
# `create_gatt_dbus_error`; BlueZ 5.4x: `org.bluez.Error.NotPaired` "Not Paired"), also for
# StartNotify's CCCD write; bleak 3 passes it on as a BleakDBusError (bluezdbus/utils.py
# `assert_gatt_reply`: "REVISIT: could also be 'Not paired'"). BlueZ first raises the
# link's security itself (pairs, with the device in its pairing mode) and answers with this
# only when that fails; this backend does not pair, so it answers at once. (Before, this
# backend said "Operation failed with ATT error: 0x05", BlueZ's text for codes it has no
# error for, and the classification it tested never met a real BlueZ.)
_BLUEZ_NOT_PAIRED = frozenset({0x05, 0x0C, 0x0F})


def _as_bluez(e: att.ATT_Error) -> BaseException:
    if e.error_code in _BLUEZ_NOT_PAIRED:
        return BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"])
    return e


class HostAdapter:
    """The hub's Bluetooth adapter as the daemon sees it through bleak. `unplug()` is the
    USB dongle pulled out (or `rfkill block`, an hci0 reset): its connections end, its
    scans hear nothing, and a scan or connect started then raises what bleak's BlueZ
    backend raises with no adapter (bleak 3 bluezdbus/manager.py `get_default_adapter`:
    "No Bluetooth adapters found.", NO_BLUETOOTH). `plug()` brings it back."""

    def __init__(self) -> None:
        self.present = True
        self._clients: set[BumbleClient] = set()

    def check(self) -> None:
        if not self.present:
            raise BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            )

    async def unplug(self) -> None:
        self.present = False
        for client in list(self._clients):
            await client.adapter_gone()

    def plug(self) -> None:
        self.present = True


def _uuid_str(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-").lower())


def parse_advertising(data: bytes) -> tuple[str | None, list[str], dict[int, bytes]]:
    """Raw AD structures -> (local name, service UUIDs, manufacturer data)."""
    name: str | None = None
    uuids: list[str] = []
    mfr: dict[int, bytes] = {}
    i = 0
    while i + 1 < len(data):
        length = data[i]
        if length == 0 or i + 1 + length > len(data):
            break
        ad_type, value = data[i + 1], data[i + 2 : i + 1 + length]
        i += 1 + length
        if ad_type in (0x08, 0x09):
            name = value.decode("utf-8", "replace")
        elif ad_type in (0x02, 0x03):
            for j in range(0, len(value) - 1, 2):
                uuids.append(normalize_uuid_str(f"{value[j] | value[j + 1] << 8:04x}"))
        elif ad_type in (0x06, 0x07):
            for j in range(0, len(value) - 15, 16):
                raw = value[j : j + 16][::-1].hex()
                uuids.append(f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}")
        elif ad_type == 0xFF and len(value) >= 2:
            mfr[value[0] | value[1] << 8] = bytes(value[2:])
    return name, uuids, mfr


class BumbleScanner(BaseBleakScanner):
    """Scans the virtual link; a subclass per link is made by `backends()`."""

    _vlink: VirtualBleLink
    _adapter: HostAdapter

    def __init__(
        self,
        detection_callback: Any = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._device: Device | None = None

    def _on_advertisement(self, adv: Advertisement) -> None:
        if not self._adapter.present:
            return  # the adapter's scan ended with it
        name, uuids, mfr = parse_advertising(adv.data_bytes)
        if not self.is_allowed_uuid(uuids):
            return
        address = adv.address.to_string(with_type_qualifier=False)
        data = AdvertisementData(
            local_name=name,
            manufacturer_data=mfr,
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=adv.rssi,
            platform_data=(adv,),
        )
        device = self.create_or_update_device(address, address, name, adv.address, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        self._adapter.check()
        self.seen_devices = {}
        self._device = self._vlink.new_device("bleak-scanner")
        self._device.on("advertisement", self._on_advertisement)
        await self._device.power_on()
        await self._device.start_scanning(active=False, filter_duplicates=False)

    async def stop(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            await device.stop_scanning()
            await device.power_off()
        finally:
            self._vlink.remove_device(device)


class BumbleClient(BaseBleakClient):
    """A GATT client on the virtual link; a subclass per link is made by `backends()`."""

    _vlink: VirtualBleLink
    _scanner: type[BumbleScanner]
    _adapter: HostAdapter

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._target: hci.Address | None = (
            address_or_ble_device.details
            if isinstance(address_or_ble_device, BLEDevice)
            and isinstance(address_or_ble_device.details, hci.Address)
            else None
        )
        self._name = (
            address_or_ble_device.name
            if isinstance(address_or_ble_device, BLEDevice) and address_or_ble_device.name
            else self.address
        )
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._closing = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def _find_target(self) -> hci.Address:
        wanted = self.address.upper()
        found: asyncio.Future[hci.Address] = asyncio.get_running_loop().create_future()

        def seen(dev: BLEDevice, _adv: AdvertisementData) -> None:
            if dev.address.upper() == wanted and not found.done():
                found.set_result(dev.details)

        scanner = self._scanner(seen, None)
        await scanner.start()
        try:
            return await asyncio.wait_for(found, self._timeout)
        except TimeoutError:
            raise BleakDeviceNotFoundError(self.address, f"{self.address} not found") from None
        finally:
            await scanner.stop()

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        self._adapter.check()
        target = self._target or await self._find_target()
        device = self._vlink.new_device("bleak-client")
        self._device = device
        try:
            await device.power_on()
            try:
                connection = await device.connect(target, timeout=self._timeout)
            except (TimeoutError, hci.HCI_Error) as e:
                raise BleakError(f"connect to {self.address} failed: {e}") from e
            self._connection = connection
            self._adapter._clients.add(self)
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            self._peer = Peer(connection)
            await self._peer.discover_all()  # type: ignore[no-untyped-call]
            self.services = self._build_services(self._peer)
        except BaseException:
            if self._connection is None:
                await self._close()
            # Else the link layer is up (discovery failed, timed out or was stopped): it
            # stays up until the caller's disconnect(), as on a stack whose own clean-up
            # did not run or did not finish. Powering the central off here forgot the
            # connection in its host while both controllers kept it: the peripheral stayed
            # connected to nobody, never advertised again, and no disconnect() could end it.
            raise

    async def adapter_gone(self) -> None:
        """The adapter left under this connection: it ends as a link lost (the device
        sees its supervision timeout and advertises again); the daemon is told it was
        disconnected, as bleak tells it when BlueZ drops the device's connection."""
        connection, device = self._connection, self._device
        if connection is None or device is None:
            return
        await self._vlink.hang_up(device, connection, hci.HCI_CONNECTION_TIMEOUT_ERROR)
        if self._connection is connection:  # no disconnection event came: end it here
            self._on_disconnection(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def _on_disconnection(self, reason: int) -> None:
        self._adapter._clients.discard(self)
        self._connection = None
        self._peer = None
        closing, self._closing = self._closing, False
        if self._device is not None:
            task = asyncio.get_running_loop().create_task(self._close())
            _background.add(task)  # keep a reference until done
            task.add_done_callback(_background.discard)
        if not closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            if not await within(device.power_off()):
                log.debug("power_off of virtual central not done in %g s", TEARDOWN_WAIT_S)
        except Exception as e:  # a half-open virtual device: nothing real to leak
            log.debug("power_off of virtual central failed: %s", e)
        finally:
            self._vlink.remove_device(device)

    def _build_services(self, peer: Peer) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        mtu = self.mtu_size
        for svc in peer.services:
            bsvc = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            coll.add_service(bsvc)
            for ch in svc.characteristics:
                props: list[CharacteristicPropertyName] = [
                    name for bit, name in _PROPS if ch.properties & bit
                ]
                bch = BleakGATTCharacteristic(
                    ch,
                    ch.handle,
                    _uuid_str(ch.uuid),
                    props,
                    lambda: mtu - 3,
                    bsvc,
                )
                coll.add_characteristic(bch)
                for d in ch.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), bch))
        return coll

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def disconnect(self) -> None:
        connection, device = self._connection, self._device
        if connection is not None and device is not None:
            self._closing = True
            # Bounded: a peripheral gone from the air without disconnecting made it hang.
            why = await self._vlink.hang_up(device, connection)
            if why is not None:
                # WARNING once per peripheral (a client is made per connect), then DEBUG
                level = logging.DEBUG if self._name in _warned else logging.WARNING
                _warned.add(self._name)
                log.log(
                    level,
                    "simulated central of %s: connection closed on the central's side only: %s",
                    self._name,
                    why,
                )
        await self._close()
        self._adapter._clients.discard(self)
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not simulated")

    async def unpair(self) -> None:
        raise BleakError("pairing is not simulated")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        self._require()
        try:
            return bytearray(await characteristic.obj.read_value())
        except att.ATT_Error as e:
            raise _as_bluez(e) from e

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        self._require()
        return bytearray(await descriptor.obj.read_value())

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        self._require()
        await characteristic.obj.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require()
        await descriptor.obj.write_value(bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kw: Any
    ) -> None:
        peer = self._require()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        try:
            await peer.subscribe(characteristic.obj, deliver)
        except att.ATT_Error as e:
            self._subscribers.pop(characteristic.handle, None)
            raise _as_bluez(e) from e

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require()
        sub = self._subscribers.pop(characteristic.handle, None)
        await peer.unsubscribe(characteristic.obj, sub)


def backends(
    link: VirtualBleLink, adapter: HostAdapter | None = None
) -> tuple[type[BaseBleakClient], type[BaseBleakScanner]]:
    """(client_backend, scanner_backend) classes bound to `link`, for run_ble_device;
    through `adapter` (the hub's: one per daemon), a present one of their own if None."""
    adapter = adapter or HostAdapter()
    scanner = type("BumbleScannerOnLink", (BumbleScanner,), {"_vlink": link, "_adapter": adapter})
    client = type(
        "BumbleClientOnLink",
        (BumbleClient,),
        {"_vlink": link, "_scanner": scanner, "_adapter": adapter},
    )
    return client, scanner
