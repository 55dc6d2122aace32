"""Simulated BLE vital-signs devices: bumble GATT peripherals on a `VirtualBleLink`.

- `SimCuff`: Blood Pressure Service 0x1810. A measurement sends Intermediate Cuff
  Pressure (0x2A36) notifications while the cuff inflates and deflates, then the
  Blood Pressure Measurement (0x2A35) indication stamped with the event time. Like real
  cuffs (Beurer, Omron, A&D: docs/operations.md "Stored records") it keeps a memory,
  which may start with old records (`memory=`, e.g. a 190/115 from yesterday): the whole
  memory is pushed on every connection as a burst of indications right after the central
  enables them (the CCCD write), oldest first (device-time order, the order of the
  cuffs' memory and of the BLP sensor examples), so a measurement taken while nobody was
  connected comes last. The central must tell history and repeats from the new one.
- `SimStrap`: Heart Rate Service 0x180D, 0x2A37 notifications with contact and RR.
- `SimOximeter`: Pulse Oximeter Service 0x1822, 0x2A5F continuous notifications with
  device-and-sensor status (probe-off bits when the scenario says so) and 0x2A60.

They advertise every ~20 ms so that tests find and reconnect them fast.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, Self

from bumble import hci
from bumble.core import UUID
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, Service
from bumble.hci import Address
from bumble.utils import cancel_on_event

from monitord.drivers.ble_gatt import encode_date_time
from monitord.drivers.sfloat import SFLOAT_NAN, encode_sfloat
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble.link import TEARDOWN_WAIT_S, VirtualBleLink, within

log = logging.getLogger(__name__)
_background: set[asyncio.Task[None]] = set()


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)  # keep a reference until done
    task.add_done_callback(_background.discard)


ADV_INTERVAL_MS = 20.0
_NONE = Characteristic.Permissions(0)  # value only travels by notify/indicate


def _sfloat(value: float | None) -> int:
    """Integers go out with exponent 0, others with one decimal, as devices do."""
    if value is None:
        return SFLOAT_NAN
    return encode_sfloat(value, 0 if float(value).is_integer() else 1)


def _ad(name: str, service16: int) -> bytes:
    raw_name = name.encode("utf-8")[:20]
    return (
        bytes([2, 0x01, 0x06])  # LE general discoverable, no BR/EDR
        + bytes([3, 0x03])
        + struct.pack("<H", service16)
        + bytes([len(raw_name) + 1, 0x09])
        + raw_name
    )


class _Peripheral:
    """Advertising, connection tracking, drop/restore; subclasses add GATT."""

    kinds: tuple[Kind, ...] = ()
    service16 = 0

    def __init__(self, name: str, link: VirtualBleLink) -> None:
        self.name = name
        self.link = link
        self.address = self._new_address()
        self.device: Device = link.new_device(name, self.address)
        self.device.add_services(self._services())
        self.connection: Connection | None = None
        self._dropped = False
        self._running = False
        self._warned = False
        self._subscribed: dict[int, asyncio.Event] = {}
        self.device.on("connection", self._on_connection)
        self.device.on("characteristic_subscription", self._on_subscription)

    def _new_address(self) -> Address:
        """The address it advertises and is connected at (a random static one; a
        subclass may give a resolvable private one, as tests of address rotation do)."""
        return self.link.new_address(0xD)

    @property
    def address_str(self) -> str:
        return str(self.address.to_string(with_type_qualifier=False))

    def _services(self) -> list[Service]:
        raise NotImplementedError

    async def send(self, ev: SimEvent, at: datetime) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.device.power_on()
        self._running = True
        await self._advertise()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Every step is bounded (link.TEARDOWN_WAIT_S): a central that left the air
        # without disconnecting made the disconnect, and so the teardown, wait forever.
        self._running = False
        await self._step("stop advertising", self.device.stop_advertising())
        if self.connection is not None:
            await self._hang_up(self.connection)
        await self._step("power off", self.device.power_off())
        self.link.remove_device(self.device)

    def _warn(self, msg: str, *args: object) -> None:
        """WARNING the first time for this device, DEBUG after."""
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "%s %r: " + msg, type(self).__name__, self.name, *args)

    async def _step(self, what: str, step: Coroutine[Any, Any, object]) -> None:
        """A teardown step that may fail (the device is going) but not hang."""
        try:
            if not await within(step):
                self._warn("%s not done in %g s, left as it was", what, TEARDOWN_WAIT_S)
        except Exception as e:
            log.debug("%s: %s failed: %s", self.name, what, e)

    async def _hang_up(
        self, conn: Connection, reason: int = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
    ) -> None:
        """Disconnect the central, closing our side alone if it does not answer."""
        why = await self.link.hang_up(self.device, conn, reason)
        if why is not None:
            self._warn(
                "connection from central %s (handle 0x%04X) closed on the peripheral's "
                "side only: %s",
                conn.peer_address.to_string(with_type_qualifier=False),
                conn.handle,
                why,
            )

    async def _advertise(self) -> None:
        if not self._running or self._dropped or self.connection is not None:
            return
        await self.device.start_advertising(
            advertising_data=_ad(self.name, self.service16),
            advertising_interval_min=ADV_INTERVAL_MS,
            advertising_interval_max=ADV_INTERVAL_MS,
        )

    def _on_connection(self, connection: Connection) -> None:
        log.debug("%s: connected by %s", self.name, connection.peer_address)
        self.connection = connection
        for ev in self._subscribed.values():
            ev.clear()
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        if self.connection is connection:
            self.connection = None
        for ev in self._subscribed.values():
            ev.clear()
        if self._running and not self._dropped:
            _spawn(self._advertise())

    def _on_subscription(
        self, connection: Any, characteristic: Characteristic[bytes], notify: bool, indicate: bool
    ) -> None:
        ev = self._subscribed.setdefault(characteristic.handle, asyncio.Event())
        if notify or indicate:
            ev.set()
            self._on_subscribed(characteristic)
        else:
            ev.clear()

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        """Hook: a central enabled notifications/indications on `characteristic`."""

    def is_subscribed(self, characteristic: Characteristic[bytes]) -> bool:
        ev = self._subscribed.get(characteristic.handle)
        return self.connection is not None and ev is not None and ev.is_set()

    async def _notify(self, characteristic: Characteristic[bytes], value: bytes) -> bool:
        """Notify the connected central; False when nobody listens (value is lost)."""
        conn = self.connection
        if conn is None or not self.is_subscribed(characteristic):
            return False
        try:
            await self.device.notify_subscriber(conn, characteristic, value)
        except Exception as e:  # the link went down under us
            log.debug("%s: notify failed: %s", self.name, e)
            return False
        return True

    async def _indicate(self, characteristic: Characteristic[bytes], value: bytes) -> bool:
        """Indicate and wait for the central's confirmation; False if not confirmed."""
        conn = self.connection
        if conn is None or not self.is_subscribed(characteristic):
            return False
        try:
            # Given up when the connection ends: bumble waits for the confirmation its
            # full 30 s even then (a teardown closing a vanished central's connection).
            await cancel_on_event(
                conn,
                conn.EVENT_DISCONNECTION,
                self.device.indicate_subscriber(conn, characteristic, value),
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our own caller stops us
            log.debug("%s: indicate given up: the connection ended", self.name)
            return False
        except Exception as e:
            log.debug("%s: indicate failed: %s", self.name, e)
            return False
        return True

    async def drop_link(self) -> None:
        """Disconnect the central and stop advertising, as if the device left the room."""
        self._dropped = True
        await self._step("stop advertising", self.device.stop_advertising())
        conn = self.connection
        if conn is not None:
            await self._hang_up(conn)

    async def restore_link(self) -> None:
        self._dropped = False
        await self._advertise()


class SimCuff(_Peripheral):
    """`episodic=True`: like many home cuffs, it advertises only after a measurement,
    pushes its memory to whoever connects, then disconnects and goes quiet."""

    kinds = (Kind.BP,)
    service16 = 0x1810
    MEMORY = 30  # readings kept, like a cuff's memory

    def __init__(
        self,
        name: str,
        link: VirtualBleLink,
        *,
        episodic: bool = False,
        memory: Sequence[tuple[SimEvent, datetime]] = (),
    ) -> None:
        self.episodic = episodic
        self._awake = not episodic
        super().__init__(name, link)
        # Old records already in the cuff when it is switched on, stamped with their time.
        old = sorted(memory, key=lambda m: m[1])
        self.memory[:] = [self.encode(ev, at) for ev, at in old][-self.MEMORY :]

    async def _advertise(self) -> None:
        if self._awake:
            await super()._advertise()

    def _services(self) -> list[Service]:
        self.bpm = Characteristic(
            UUID.from_16_bits(0x2A35), Characteristic.Properties.INDICATE, _NONE, b""
        )
        self.icp = Characteristic(
            UUID.from_16_bits(0x2A36), Characteristic.Properties.NOTIFY, _NONE, b""
        )
        # body movement, cuff fit, irregular pulse, pulse range detection
        self.feature = Characteristic(
            UUID.from_16_bits(0x2A49),
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            struct.pack("<H", 0x000F),
        )
        self.memory: list[bytes] = []
        self.indications_confirmed = 0  # 0x2A35 values the central confirmed
        self._push_lock = asyncio.Lock()
        return [Service(UUID.from_16_bits(0x1810), [self.bpm, self.icp, self.feature])]

    @staticmethod
    def encode(ev: SimEvent, at: datetime) -> bytes:
        """0x2A35 value: mmHg, timestamp, pulse, status (error: all NaN, status 0)."""
        v = ev.values
        if ev.error:
            sys_, dia, map_, pulse = SFLOAT_NAN, SFLOAT_NAN, SFLOAT_NAN, SFLOAT_NAN
        else:
            sys_, dia = _sfloat(v.get("sys_mmHg")), _sfloat(v.get("dia_mmHg"))
            map_ = _sfloat(v.get("map_mmHg"))
            pulse = _sfloat(v.get("pulse_bpm"))
        flags = 0x02 | 0x04 | 0x10
        return (
            struct.pack("<BHHH", flags, sys_, dia, map_)
            + encode_date_time(at)
            + struct.pack("<HH", pulse, 0)
        )

    async def send(self, ev: SimEvent, at: datetime) -> None:
        value = self.encode(ev, at)
        self.memory = [*self.memory, value][-self.MEMORY :]
        if self.connection is None:
            if self.episodic:
                self._awake = True  # wake up and let the hub come and fetch it
                await self._advertise()
            return  # stored; pushed on the next connection
        peak = (ev.values.get("sys_mmHg") or 120.0) + 30.0
        for pressure in (40.0, 100.0, peak, peak - 40.0, peak - 80.0):
            icp = struct.pack("<BHHH", 0x00, _sfloat(pressure), SFLOAT_NAN, SFLOAT_NAN)
            await self._notify(self.icp, icp)
        async with self._push_lock:
            if await self._indicate(self.bpm, value):
                self.indications_confirmed += 1

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        if characteristic.handle == self.bpm.handle and self.memory:
            _spawn(self._push_memory())

    async def _push_memory(self) -> None:
        async with self._push_lock:
            for value in list(self.memory):
                if not await self._indicate(self.bpm, value):
                    return
                self.indications_confirmed += 1
        if self.episodic:  # done: hang up and sleep until the next measurement
            self._awake = False
            conn = self.connection
            if conn is not None:
                await self._hang_up(conn)


class SimStrap(_Peripheral):
    kinds = (Kind.HR,)
    service16 = 0x180D

    def _services(self) -> list[Service]:
        self.hrm = Characteristic(
            UUID.from_16_bits(0x2A37), Characteristic.Properties.NOTIFY, _NONE, b""
        )
        return [Service(UUID.from_16_bits(0x180D), [self.hrm])]

    _beat_seen = False  # an RR interval needs a beat before it, heard on this subscription

    @staticmethod
    def encode(ev: SimEvent, rr: bool = True) -> bytes:
        """0x2A37 value. As a Polar H7 (the FleXoft/Polar-H7-HRM log in
        tests/ble/test_public_captures.py): flags 0x16 with contact and one RR interval;
        `rr=False` is the first notification after subscribing, 0x06 with no RR yet."""
        hr = ev.values.get("hr_bpm")
        bpm = 0 if hr is None or ev.contact is False else round(hr)
        flags = 0x06 if ev.contact else (0x04 if ev.contact is False else 0x00)
        rr_bytes = b""
        if bpm and rr:
            flags |= 0x10  # one RR interval: one beat at this rate, in 1/1024 s
            rr_bytes = struct.pack("<H", round(60.0 / bpm * 1024))
        if bpm > 255:
            return struct.pack("<BH", flags | 0x01, bpm) + rr_bytes
        return struct.pack("<BB", flags, bpm) + rr_bytes

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        self._beat_seen = False

    async def send(self, ev: SimEvent, at: datetime) -> None:
        if await self._notify(self.hrm, self.encode(ev, rr=self._beat_seen)):
            # a beat was heard: the next notification has an interval to report
            self._beat_seen = ev.contact is not False and ev.values.get("hr_bpm") is not None


class SimOximeter(_Peripheral):
    kinds = (Kind.SPO2,)
    service16 = 0x1822
    PROBE_OFF = (1 << 15) | (1 << 11)  # sensor disconnected, sensor unconnected to user

    def _services(self) -> list[Service]:
        self.cont = Characteristic(
            UUID.from_16_bits(0x2A5F), Characteristic.Properties.NOTIFY, _NONE, b""
        )
        # features: measurement status + device and sensor status supported
        features = struct.pack("<HH", 0x0003, 0xE000) + (0x00A800).to_bytes(3, "little")
        self.features = Characteristic(
            UUID.from_16_bits(0x2A60),
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            features,
        )
        return [Service(UUID.from_16_bits(0x1822), [self.cont, self.features])]

    @classmethod
    def encode(cls, ev: SimEvent) -> bytes:
        off = ev.contact is False
        spo2 = None if off else ev.values.get("spo2_pct")
        pulse = None if off else ev.values.get("pulse_bpm")
        dev_status = cls.PROBE_OFF if off else 0
        return struct.pack("<BHH", 0x08, _sfloat(spo2), _sfloat(pulse)) + dev_status.to_bytes(
            3, "little"
        )

    async def send(self, ev: SimEvent, at: datetime) -> None:
        await self._notify(self.cont, self.encode(ev))
