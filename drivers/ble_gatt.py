"""Shared pieces of the BLE GATT decoders and the description the BLE link works from.

Decoders (ble_bpm, ble_hrm, ble_plx) stay pure: bytes in, frozen dataclass or `Reject` out
(the dataclass keeps everything the decode CLI shows: RR intervals, user id ...). Each
module also turns its dataclass into a `Measurement` (drivers/measurement.py) so the link
(drivers/ble_link.py) can stamp `Reading`s without knowing any characteristic, and
describes what to subscribe to in a `BleProfile` (the DriverDescriptor's `ble_profile`).
`BleLinkSettings` are the BLE transport's keys of a device's config (address, name).

Date Time (org.bluetooth.characteristic.date_time, 7 bytes, used by 0x2A35/0x2A36/0x2A5E):

    byte  0    1    2      3    4     5       6
         +---------+------+----+-----+-------+-------+
         | year LE | month| day| hour| minute| second|
         +---------+------+----+-----+-------+-------+
    year 0, month 0 or day 0 = "not known". The value has no time zone: we read it as UTC
    as the `Measurement`'s device time; `stamp()` (drivers/measurement.py) decides which
    clock the recorded `measured_at` follows (the alert engine never runs on a device
    clock: clinical-rules.md "Delivery of alarms").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from monitord.config import DeviceOptions
from monitord.drivers.measurement import Measurement, PRESSURE_MAX_mmHg, SPO2_RANGE_pct
from monitord.drivers.reject import Reject

KPA_TO_MMHG = 760.0 / 101.325  # 1 kPa = 7.50062 mmHg (standard atmosphere definition)

# Decoder sanity ranges: outside them a number cannot be a measurement and is either
# rejected (primary values) or dropped with a flag (secondary values). Clinical validity
# (clinical-rules.md "Valid readings") is narrower and is the alert engine's business.
PULSE_RANGE_bpm = (1.0, 300.0)
RR_RANGE_ms = (150.0, 3000.0)  # 400 .. 20 bpm beat to beat


def pulse_in_range(raw: float, status: list[str]) -> float | None:
    """A decoded pulse rate (a secondary value) as every decoder passes it on: 0 is the
    device's "no pulse" (None); outside `PULSE_RANGE_bpm` it cannot be a measurement, so
    None and the flag `pulse_implausible` (once), never a number."""
    if raw == 0:
        return None
    if PULSE_RANGE_bpm[0] <= raw <= PULSE_RANGE_bpm[1]:
        return round(raw, 1)
    if "pulse_implausible" not in status:
        status.append("pulse_implausible")
    return None


def uuid16(short: int) -> str:
    """16-bit SIG UUID -> the 128-bit string form bleak uses."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


def parse_date_time(data: bytes, offset: int) -> tuple[datetime | None, str | None]:
    """7-byte Date Time at `offset` -> (UTC datetime or None, flag or None).

    Unknown (year/month/day 0) gives (None, "device_clock_unset"); impossible fields give
    (None, "bad_device_clock"). Never raises; the caller has checked the length.
    """
    year = data[offset] | data[offset + 1] << 8
    month, day, hour, minute, second = data[offset + 2 : offset + 7]
    if year == 0 or month == 0 or day == 0:
        return None, "device_clock_unset"
    if year < 1582:
        return None, "bad_device_clock"
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC), None
    except ValueError:
        return None, "bad_device_clock"


def encode_date_time(t: datetime | None) -> bytes:
    """For the simulators: UTC datetime -> 7 bytes (None -> all zero, "not known")."""
    if t is None:
        return bytes(7)
    t = t.astimezone(UTC)
    return bytes([t.year & 0xFF, t.year >> 8, t.month, t.day, t.hour, t.minute, t.second])


def bit_names(value: int, names: Mapping[int, str], prefix: str) -> list[str]:
    """Set bits -> names; bits without a name become `{prefix}_bit{n}` (nothing is lost)."""
    out: list[str] = []
    n = 0
    while value >> n:
        if value >> n & 1:
            out.append(names.get(n, f"{prefix}_bit{n}"))
        n += 1
    return out


class BleLinkSettings(DeviceOptions):
    """The BLE transport's keys of a device table: which device to connect to. Without
    either, the link takes the first device advertising the profile's service."""

    address: str | None = None
    name: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}(/[PR])?", v):
            raise ValueError("must be a Bluetooth address like AA:BB:CC:DD:EE:FF")
        return v

    @model_validator(mode="after")
    def _needs_target(self, info: ValidationInfo) -> BleLinkSettings:
        ctx = info.context or {}
        if not ctx.get("simulated") and not (self.address or self.name):
            driver = ctx.get("driver", "?")
            raise ValueError(f"driver {driver!r} is BLE: set address or name (or simulate)")
        return self


# Quirks the BLE link itself understands, for any profile (drivers/ble_link.py).
Q_EPISODIC = "episodic"  # the device connects only after a measurement, then hangs up
# Wait a moment between service discovery and subscribing: a Beurer BM85 sometimes takes a
# subscription sent right after discovery, then sends nothing, shows an error and lets the
# link die; 50 ms was enough there, 100 ms keeps a margin (derdilla/blood-pressure-
# monitor-fl PR #729, on a BM85).
Q_SETTLE = "settle-before-subscribe"
SETTLE_S = 0.1
LINK_QUIRKS = frozenset({Q_EPISODIC, Q_SETTLE})

# bytes + active quirks -> a sample, a reject, or None ("not a reading": cuff pressure)
SampleDecoder = Callable[[bytes, frozenset[str]], Measurement | Reject | None]


@dataclass(frozen=True, slots=True)
class BleSubscription:
    uuid: str
    mode: Literal["indicate", "notify"]
    decode: SampleDecoder
    name: str  # for logs: "0x2A35 blood pressure measurement"


@dataclass(frozen=True, slots=True)
class BleFeature:
    uuid: str
    decode: Callable[[bytes], Any]  # -> a features dataclass or Reject
    name: str


@dataclass(frozen=True, slots=True)
class BleProfile:
    """What the BLE link needs to know about one kind of device."""

    service_uuid: str
    subscriptions: tuple[BleSubscription, ...]
    features: tuple[BleFeature, ...] = ()
    # Longest normal gap between notifications (DeviceConfig.silence_s overrides). A cuff
    # is silent between NIBP cycles (600 s default), so its window is wide.
    silence_s: float = 10.0
    # Quirk sets by model: a key is matched loosely against the advertised name (see
    # `model_key`), so "Beurer BM85", "BM85" and "BM 85" all select the "BM85" entry.
    model_quirks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    known_quirks: frozenset[str] = frozenset()

    def quirks_for(self, name: str | None, configured: Sequence[str] | None) -> frozenset[str]:
        """Active quirks: the device's `quirks` config, when set (an empty list means
        none), wins over the advertised-name table."""
        if configured is not None:
            return frozenset(configured)
        return self.model_for(name)[1]

    def model_for(self, name: str | None) -> tuple[str | None, frozenset[str]]:
        """(model key, its quirks) for an advertised name; (None, {}) when none matches."""
        if name:
            key = model_key(name)
            for model, quirks in self.model_quirks.items():
                if model in key:
                    return model, quirks
        return None, frozenset()

    @property
    def accepted_quirks(self) -> frozenset[str]:
        """Every quirk name a device of this profile may list in its `quirks` config."""
        return self.known_quirks | LINK_QUIRKS


def model_key(name: str) -> str:
    """Advertised name -> the form model keys are matched in: upper case, letters and
    digits only ("Beurer BM85" -> "BEURERBM85", "BM 59" -> "BM59"). Cuffs advertise the
    model with a brand prefix or a space (derdilla/blood-pressure-monitor-fl docs/
    bluetooth.md), and the official Beurer app matches this way (PR #735 there)."""
    return "".join(c for c in name.upper() if c.isascii() and c.isalnum())


def range_violations(rec: object) -> list[str]:
    """The decoders' promise, checked by the fuzz tests and bench/fuzz_ble.py: every
    number a decoder returns is None or inside its sanity range. Returns what breaks it."""
    out: list[str] = []
    for name in getattr(rec, "__slots__", ()):
        value = getattr(rec, name)
        if value is None or isinstance(value, bool) or name.startswith("energy"):
            continue
        values = value if name == "rr_ms" else (value,)
        if name == "rr_ms":
            lo, hi = RR_RANGE_ms
        elif name.endswith("_mmHg"):
            lo, hi = 0.0, PRESSURE_MAX_mmHg
        elif name.endswith("_bpm"):
            lo, hi = PULSE_RANGE_bpm
        elif name.endswith("_pct"):
            lo, hi = SPO2_RANGE_pct
        else:
            continue
        for v in values:
            if not (isinstance(v, int | float) and lo <= v <= hi):
                out.append(f"{name}={v!r} outside {lo:g}..{hi:g}")
    return out
