"""The contracts between transports, protocol decoders and the daemon.

Data flows one way: a *transport* moves bytes (and reconnects), a *protocol* turns those
bytes into `Reading`s through a pure *decoder*, and the daemon's hub takes the readings.

- Decoders are pure functions: bytes in, typed records or a `Reject` out. They never raise
  on bad input and never do I/O.
- A `SerialProtocol` gets a connected `ByteLink` and a `DeviceContext`; it may write
  (IntelliVue polls) but it never opens ports: reconnecting is the transport's job.
- Every driver module ends with a `DriverDescriptor` (and, for `monitord decode`, one or
  more `DecodeProfile`s) that `drivers/registry.py` lists by name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from monitord.models import Kind, Reading


class RejectReason(enum.StrEnum):
    """Why a payload or frame was not turned into a reading. Counted per device."""

    BAD_CHECKSUM = "bad_checksum"
    BAD_LENGTH = "bad_length"
    BAD_FORMAT = "bad_format"  # syntax: not hex, not a key=value line, bad escape ...
    UNKNOWN_TYPE = "unknown_type"  # a message/frame type this decoder does not handle
    IMPLAUSIBLE = "implausible_value"  # decodes, but a value cannot be physiological
    NO_VALUE = "no_value"  # well-formed but carries no measurement (all NaN, "---")
    OVERSIZE = "oversize"  # a frame longer than the protocol allows
    NOISE = "noise"  # bytes between frames that belong to no frame
    # the device speaks another output mode of its own (a Rad-8 left in ASCII 2): the
    # operator must change a setting on the device, so it is told apart from noise
    WRONG_MODE = "wrong_mode"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: RejectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class LinkLost(Exception):
    """The transport lost the device (unplug, EOF, disconnect, silence)."""


class ByteLink(Protocol):
    """A connected byte stream handed to a `SerialProtocol` by the transport."""

    async def read(self) -> bytes:
        """Next chunk of bytes (any size >= 1). Raises `LinkLost` when the link is gone."""
        ...

    async def write(self, data: bytes) -> None: ...


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
    baudrate: int = 9600
    bytesize: int = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: float = 1
    # Longest normal silence between bytes; longer means the device is gone (unplugged
    # USB-serial adapters often keep the tty open but deliver nothing).
    silence_s: float = 5.0


@dataclass(frozen=True, slots=True)
class DriverDescriptor:
    """Declares one device protocol. `drivers/registry.py` lists them all."""

    name: str  # the config's `driver = "..."`
    transport: Literal["serial", "ble"]
    kinds: tuple[Kind, ...]
    summary: str
    # serial drivers: build a protocol instance for one device (options from the config)
    make_protocol: Callable[[dict[str, Any]], SerialProtocol] | None = None
    serial: SerialDefaults | None = None
    # BLE drivers: an object the BLE link understands (see drivers/ble_link.py)
    ble_profile: Any = None
    options: Sequence[str] = field(default_factory=tuple)  # driver-specific config keys


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
