"""Bluetooth SIG Heart Rate Service 0x180D: Heart Rate Measurement 0x2A37 (notify).

Wire layout, little-endian:

    byte 0      1 or 1..2        [2]               [2] * n
        +------+---------------+-----------------+-----------------------+
        |flags | heart rate    | energy expended | RR-interval ...       |
        +------+---------------+-----------------+-----------------------+
    flags: bit0 HR format (0 uint8, 1 uint16)
           bits1-2 sensor contact (0/1 not supported, 2 supported but no contact,
                   3 contact detected)
           bit3 energy expended present (uint16, kJ)
           bit4 RR-intervals present (uint16 each, 1/1024 s; as many as fill the PDU)
           bits5-7 reserved
    Heart rate 0 is what straps send without skin contact: no value.

Length is checked against the flags: RR intervals must fill the rest exactly (an odd byte
is a truncated or corrupt notification), and bytes beyond the declared fields are a
reject, not something to guess at. RR values outside 150..3000 ms are dropped and flagged
`rr_implausible` (a lost beat, not a heart rhythm).

The RR flag set with no RR value after the fields is read as a rate without RR intervals,
flagged `rr_flag_without_rr`, not rejected. The flag's spec text says "one or more
RR-Interval values are present", but the rate sits where the flags put it either way, and
the strap vendor's own client (Polar BLE SDK, `BleHrClient.kt`) and the Web Bluetooth
sample parsers read the RR field as "while bytes remain" and keep the rate; rejecting
would lose a sound heart rate for a missing optional field (Nordic's Android-BLE-Library
is the strict exception).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitord.drivers.base import (
    DecodeProfile,
    DriverDescriptor,
    Measurement,
    Reject,
    RejectReason,
    one_record,
)
from monitord.drivers.ble_gatt import (
    BleLinkSettings,
    BleProfile,
    BleSubscription,
    PULSE_RANGE_bpm,
    RR_RANGE_ms,
    uuid16,
)
from monitord.models import Kind

SERVICE = uuid16(0x180D)
HRM_UUID = uuid16(0x2A37)

F_UINT16, F_ENERGY, F_RR = 0x01, 0x08, 0x10
F_RESERVED = 0xE0


@dataclass(frozen=True, slots=True)
class HeartRate:
    hr_bpm: int | None
    contact: bool | None  # None: the strap does not report contact
    energy_kJ: int | None
    rr_ms: tuple[float, ...]
    status: tuple[str, ...]
    valid: bool

    def to_record(self) -> dict[str, Any]:
        return {
            "hr_bpm": self.hr_bpm,
            "rr_ms": list(self.rr_ms),
            "contact": self.contact,
            "energy_kJ": self.energy_kJ,
            "measured_at": None,  # 0x2A37 carries no timestamp
            "status": list(self.status),
            "valid": self.valid,
        }


def decode_hrm(data: bytes, quirks: frozenset[str] = frozenset()) -> HeartRate | Reject:
    """Decode a 0x2A37 value. Never raises."""
    if len(data) < 2:
        return Reject(RejectReason.BAD_LENGTH, f"heart rate: {len(data)} bytes, need >= 2")
    flags = data[0]
    status: list[str] = []
    if flags & F_RESERVED:
        status.append("reserved_flags")
    off = 1
    fixed = 1 + (2 if flags & F_UINT16 else 1) + (2 if flags & F_ENERGY else 0)
    if len(data) < fixed:
        return Reject(
            RejectReason.BAD_LENGTH,
            f"heart rate: {len(data)} bytes, flags 0x{flags:02x} need >= {fixed}",
        )
    rest = len(data) - fixed
    if flags & F_RR:
        if rest % 2:
            return Reject(
                RejectReason.BAD_LENGTH,
                f"heart rate: {rest} bytes of RR intervals, need an even count",
            )
        if rest == 0:
            # the rate is where the flags put it; only the optional RR list is missing
            status.append("rr_flag_without_rr")
    elif rest:
        return Reject(
            RejectReason.BAD_LENGTH,
            f"heart rate: {rest} bytes beyond the fields flags 0x{flags:02x} declare",
        )
    if flags & F_UINT16:
        hr_raw = data[1] | data[2] << 8
        off = 3
    else:
        hr_raw = data[1]
        off = 2
    if hr_raw > PULSE_RANGE_bpm[1]:
        return Reject(RejectReason.IMPLAUSIBLE, f"heart rate {hr_raw} bpm above 300")
    hr = hr_raw or None
    contact_bits = (flags >> 1) & 0x3
    contact = None if contact_bits < 2 else contact_bits == 3
    if contact is False:
        status.append("no_contact")
    energy: int | None = None
    if flags & F_ENERGY:
        energy = data[off] | data[off + 1] << 8
        off += 2
    rr: list[float] = []
    while off < len(data):
        ms = (data[off] | data[off + 1] << 8) * 1000 / 1024
        off += 2
        if RR_RANGE_ms[0] <= ms <= RR_RANGE_ms[1]:
            rr.append(round(ms, 1))
        elif "rr_implausible" not in status:
            status.append("rr_implausible")
    return HeartRate(
        hr_bpm=hr,
        contact=contact,
        energy_kJ=energy,
        rr_ms=tuple(rr),
        status=tuple(status),
        valid=hr is not None and contact is not False,
    )


def hrm_sample(data: bytes, quirks: frozenset[str]) -> Measurement | Reject:
    rec = decode_hrm(data, quirks)
    if isinstance(rec, Reject):
        return rec
    return Measurement(
        kind=Kind.HR,
        values={"hr_bpm": None if rec.hr_bpm is None else float(rec.hr_bpm)},
        valid=rec.valid,
        flags=rec.status,
        contact=rec.contact,
    )


BLE_PROFILE = BleProfile(
    service_uuid=SERVICE,
    subscriptions=(BleSubscription(HRM_UUID, "notify", hrm_sample, "0x2A37 heart rate"),),
    silence_s=5.0,  # straps notify about once a second
)

DRIVER = DriverDescriptor(
    name="ble-hrm",
    transport="ble",
    kinds=(Kind.HR,),
    summary="Bluetooth LE Heart Rate Service 0x180D strap (0x2A37, contact, RR)",
    settings=BleLinkSettings,
    ble_profile=BLE_PROFILE,
)
PROFILE = DecodeProfile(
    name="ble-hrm",
    input="hex",
    summary="Heart Rate Measurement 0x2A37 value",
    decode=one_record(decode_hrm),
)
