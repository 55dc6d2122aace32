"""The contracts between transports, protocol decoders and the daemon.

Data flows one way: a *transport* moves bytes (and reconnects), a *protocol* turns those
bytes into `Measurement`s through a pure *decoder*, `stamp()` (drivers/measurement.py)
makes each a `Reading` of its device, and the daemon's hub takes the readings.

- Decoders are pure functions: bytes in, a `Measurement` (or a typed record the decode
  CLI shows) or a `Reject` out. They never raise on bad input and never do I/O.
- A `SerialProtocol` gets a connected `ByteLink` and a `DeviceContext`; it may write
  (IntelliVue polls) but it never opens ports: reconnecting is the transport's job.
- Every driver module ends with a `DriverDescriptor` (and, for `monitord decode`, one or
  more `DecodeProfile`s) that `drivers/registry.py` lists by name. The descriptor names
  the driver's settings model (its transport's link settings plus its own options), which
  the config validates a device's keys with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from monitord.config import DeviceOptions
from monitord.drivers.ble_gatt import BleProfile
from monitord.drivers.measurement import Measurement, stamp
from monitord.drivers.reject import Reject, RejectReason
from monitord.models import Kind, Reading

__all__ = [
    "BleProfile",
    "ByteLink",
    "DecodeProfile",
    "DeviceContext",
    "DriverDescriptor",
    "LinkLost",
    "Measurement",
    "Reject",
    "RejectReason",
    "SerialDefaults",
    "SerialProtocol",
    "one_record",
    "stamp",
]


class LinkLost(Exception):
    """The transport lost the device (unplug, EOF, disconnect, silence)."""


class ByteLink(Protocol):
    """A connected byte stream handed to a `SerialProtocol` by the transport."""

    async def read(self) -> bytes:
        """Next chunk of bytes (any size >= 1). Raises `LinkLost` when the link is gone."""
        ...

    async def write(self, data: bytes) -> None: ...

    def heard(self) -> None:
        """The protocol decoded data from the device: a line or packet, or for a polled
        device an answered poll (an IntelliVue refusing every association talks, but
        gives nothing). Bytes alone prove nothing (a wrong baud rate gives a steady
        stream of garbage): the transport reports the link up on the first `heard()` of
        a connection, and lost when bytes keep coming without one for `silence_s`."""
        ...


class DeviceContext(Protocol):
    """What a protocol may do with its results: emit readings, count rejects, read time."""

    chair: str
    device: str

    def emit(self, reading: Reading) -> None: ...

    def reject(self, reject: Reject) -> None: ...

    def now(self) -> datetime:
        """Current time on the chair's clock (virtual for simulated chairs), aware UTC."""
        ...

    def link(self, up: bool, reason: str = "") -> None:
        """Transports report the link going up (connected, data flowing) or down (lost,
        unplugged, silent). The daemon turns this into `tech.device_lost` timing."""
        ...


class SerialProtocol(Protocol):
    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        """Talk to the device until the link is lost (raise `LinkLost`) or cancelled."""
        ...


@dataclass(frozen=True, slots=True)
class SerialDefaults:
    """A serial driver's line settings when the device's config does not set them. Every
    serial driver states its own (drivers/registry.py refuses one without): a driver that
    left them out read its device at 9600 8N1, silently, whatever the device sends. The
    baud rate and the output period have no default; the frame is 8N1 unless stated."""

    baudrate: int
    # Longest normal interval between two lines or packets the protocol decodes (calls
    # `heard()` for) from a working device, as the device sets it; a polled device's poll
    # interval adds to it (its options model's `poll_s()`). `silence_s` must be longer:
    # the registry checks the driver's, check-config warns of a device's shorter one.
    period_s: float
    bytesize: int = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: float = 1
    # Longest normal silence between bytes; longer means the device is gone (unplugged
    # USB-serial adapters often keep the tty open but deliver nothing).
    silence_s: float = 5.0
    # Longest interval between two decoded lines or packets when line noise costs one
    # frame or line: the reader drops what it was assembling and waits for the next
    # start. None: one output period more (`2 * period_s`: a Rad-8's cut line, a Nonin
    # frame's bad checksum losing its packet). A silence_s within it drops and reopens a
    # working link on a single noisy frame (`tech.device_lost` while the device works).
    resync_s: float | None = None

    @property
    def one_lost_s(self) -> float:
        """The interval between two decoded units around one lost to line noise."""
        return self.resync_s if self.resync_s is not None else 2 * self.period_s


@dataclass(frozen=True, slots=True)
class DriverDescriptor:
    """Declares one device protocol. `drivers/registry.py` lists them all."""

    name: str  # the config's `driver = "..."`
    transport: Literal["serial", "ble"]
    kinds: tuple[Kind, ...]
    summary: str
    # The device table's keys beyond DeviceConfig's own: the transport's link settings
    # model, or the driver's options model extending it (validated by monitord.config).
    settings: type[DeviceOptions]
    # serial drivers: build a protocol instance for one device from its settings
    make_protocol: Callable[[DeviceOptions], SerialProtocol] | None = None
    serial: SerialDefaults | None = None
    # Serial drivers: what the operator should check when the line stays silent, when this
    # device has a likelier cause than the transport's generic advice (a Rad-8 left in its
    # factory output mode sends nothing at all). None: the generic advice.
    silence_advice: str | None = None
    # BLE drivers: what to subscribe to and how to decode it (drivers/ble_gatt.py)
    ble_profile: BleProfile | None = None
    # Serial drivers: "module:Class" of the device's simulator (a monitord.simulators._serial_base
    # SerialSim), looked up by name so that drivers never import simulators.
    simulator: str | None = None

    @property
    def period_s(self) -> float | None:
        """The device's output period (`SerialDefaults.period_s`); None for BLE drivers."""
        return self.serial.period_s if self.serial is not None else None

    @property
    def one_lost_s(self) -> float | None:
        """`SerialDefaults.one_lost_s`; None for BLE drivers."""
        return self.serial.one_lost_s if self.serial is not None else None

    @property
    def default_silence_s(self) -> float | None:
        """The link's silence when a device sets none (`SerialDefaults.silence_s`); None
        for BLE drivers."""
        return self.serial.silence_s if self.serial is not None else None

    @property
    def accepted_quirks(self) -> frozenset[str]:
        """Quirk names a device of this driver may list in its `quirks` config."""
        return self.ble_profile.accepted_quirks if self.ble_profile is not None else frozenset()


@dataclass(frozen=True, slots=True)
class DecodeProfile:
    """A `monitord decode --profile NAME` entry: one CLI argument in, records out."""

    name: str
    input: Literal["hex", "text"]
    summary: str
    # bytes of one argument -> list of records (design.md section 4 field names) or Reject
    decode: Callable[[bytes], list[dict[str, Any]] | Reject]
    # Profiles with a per-model quirk table (BLE cuffs): the same decode with the quirks
    # given, and the quirks an advertised name selects, so that `decode --name` decodes
    # a capture exactly as the daemon would for that device.
    decode_with_quirks: Callable[[bytes, frozenset[str]], list[dict[str, Any]] | Reject] | None = (
        None
    )
    quirks_for_name: Callable[[str], frozenset[str]] | None = None

    def decode_as(self, data: bytes, name: str | None = None) -> list[dict[str, Any]] | Reject:
        """Decode as for a device advertising `name` (None: no model quirks)."""
        if name is None or self.decode_with_quirks is None or self.quirks_for_name is None:
            return self.decode(data)
        return self.decode_with_quirks(data, self.quirks_for_name(name))


class _Record(Protocol):
    def to_record(self) -> dict[str, Any]: ...


class _Decoder(Protocol):
    def __call__(self, data: bytes, quirks: frozenset[str] = ..., /) -> _Record | Reject: ...


def one_record(decode: _Decoder) -> Callable[..., list[dict[str, Any]] | Reject]:
    """A `DecodeProfile.decode` (or `decode_with_quirks`) from a decoder returning one
    typed record (or a Reject); extra arguments (the quirks) are passed through."""

    def profile(data: bytes, *args: frozenset[str]) -> list[dict[str, Any]] | Reject:
        rec = decode(data, *args)
        return rec if isinstance(rec, Reject) else [rec.to_record()]

    return profile
