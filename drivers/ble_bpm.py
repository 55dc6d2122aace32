"""Bluetooth SIG Blood Pressure Service 0x1810: measurement, cuff pressure, features.

Blood Pressure Measurement 0x2A35 (indicate) and Intermediate Cuff Pressure 0x2A36
(notify) share one layout; all multi-byte fields little-endian, SFLOAT = IEEE 11073:

    byte 0      1..2   3..4   5..6   [7 bytes]   [2]     [1]      [2]
        +------+------+------+------+-----------+-------+--------+---------+
        |flags | sys  | dia  | MAP  | timestamp | pulse | user ID| status  |
        +------+------+------+------+-----------+-------+--------+---------+
    flags: bit0 unit (0 mmHg, 1 kPa)  bit1 timestamp  bit2 pulse rate  bit3 user ID
           bit4 measurement status    bits5-7 reserved
    In 0x2A36 "sys" is the current cuff pressure and dia/MAP are NaN (unused).
    user ID 0xFF = unknown user.
    status: bit0 body movement  bit1 cuff too loose  bit2 irregular pulse
            bits3-4 pulse rate range (0 in, 1 above upper limit, 2 below lower limit)
            bit5 improper measurement position  bits6-15 reserved

Blood Pressure Feature 0x2A49 (read): uint16 of supported detections (bit0 body movement,
bit1 cuff fit, bit2 irregular pulse, bit3 pulse rate range, bit4 measurement position,
bit5 multiple bonds).

Deviations seen in real cuffs, and what we do (never a plausible-looking wrong number):
- error reading: all values NaN, status 0 (the cuff showed "Err") -> a reading with
  `valid: false` and flag `cuff_error`; it is a cuff error, not a lost measurement.
- MAP = 0 -> absent (`map_absent`); MAP is never 0 in a living patient.
- reserved flag bits set -> flag `reserved_flags`, layout read as the known bits say.
- length not matching the flags (a user-ID byte without flag bit3, a newer optional
  field, a truncated indication): sys/dia/MAP sit at fixed offsets and stay, and so does
  the timestamp, which the flags put right after MAP where no undeclared byte has ever
  been seen; pulse, user ID and status, whose position an undeclared byte may have
  shifted, are dropped and flagged `length_mismatch` rather than guessed, unless a quirk
  below says exactly what the extra bytes are.
- quirks, selected by the advertised name (MODEL_QUIRKS, matched loosely: upper case,
  letters and digits only, `contains` the model) or the device's `quirks` config:
  `pulse-status-be`: pulse and status sent big-endian;
  `user-id-without-flag`: a user-ID byte after the pulse although flag bit3 is clear.
  Beurer BM85 needs both together: its indications are 19 bytes where flags 0x56 (which
  also set reserved bit 6) imply 18 (derdilla/blood-pressure-monitor-fl PR #735, "send
  the pulse and measurement flags in reversed byte order ... always append the user id
  after the pulse without setting the flag bit", verified on a BM85 for both users, and
  the recorded indications of PR #735/#737 that tests/ble/test_beurer_captures.py
  replays). BM48, BM59 and ELITE900 are on the official Beurer app's list of such
  models (same PR); only the BM85 is verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    KPA_TO_MMHG,
    Q_SETTLE,
    BleFeature,
    BleLinkSettings,
    BleProfile,
    BleSubscription,
    bit_names,
    parse_date_time,
    pulse_in_range,
    uuid16,
)
from monitord.drivers.measurement import PRESSURE_MAX_mmHg
from monitord.drivers.sfloat import Special, sfloat_be, sfloat_le
from monitord.models import Kind

SERVICE = uuid16(0x1810)
BPM_UUID = uuid16(0x2A35)
ICP_UUID = uuid16(0x2A36)
FEATURE_UUID = uuid16(0x2A49)

F_KPA, F_TIME, F_PULSE, F_USER, F_STATUS = 0x01, 0x02, 0x04, 0x08, 0x10
F_RESERVED = 0xE0

Q_PULSE_STATUS_BE = "pulse-status-be"
Q_USER_ID_WITHOUT_FLAG = "user-id-without-flag"
# (`episodic`, the cuff connects only after a measurement, is the BLE link's quirk)
KNOWN_QUIRKS = frozenset({Q_PULSE_STATUS_BE, Q_USER_ID_WITHOUT_FLAG})

# both decoding quirks together, and the BLE link's settle delay (drivers/ble_gatt.py)
_BEURER = frozenset({Q_PULSE_STATUS_BE, Q_USER_ID_WITHOUT_FLAG, Q_SETTLE})
#: model (matched loosely in the advertised name, see drivers/ble_gatt.model_key) ->
#: quirks. Add a model only with a public capture or report; docs/devices.md lists them.
MODEL_QUIRKS: dict[str, frozenset[str]] = {
    "BM85": _BEURER,  # verified: recorded indications, see the module docstring
    "BM59": _BEURER,  # the official Beurer app's list (advertises "BM 59")
    "BM48": _BEURER,  # same list
    "ELITE900": _BEURER,  # same list
}

_STATUS_NAMES = {
    0: "body_movement",
    1: "cuff_too_loose",
    2: "irregular_pulse",
    5: "improper_position",
}
_FEATURE_NAMES = {
    0: "body_movement_detection",
    1: "cuff_fit_detection",
    2: "irregular_pulse_detection",
    3: "pulse_rate_range_detection",
    4: "measurement_position_detection",
    5: "multiple_bonds",
}


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """One 0x2A35 measurement (or 0x2A36 cuff pressure, `intermediate=True`)."""

    sys_mmHg: float | None  # for 0x2A36: the current cuff pressure
    dia_mmHg: float | None
    map_mmHg: float | None
    pulse_bpm: float | None
    measured_at: datetime | None  # the cuff's clock, as sent (UTC assumed)
    user_id: int | None
    status: tuple[str, ...]  # measurement status bits and decoder flags, by name
    valid: bool
    intermediate: bool = False

    def to_record(self) -> dict[str, Any]:
        """design.md section 4 field names."""
        base: dict[str, Any]
        if self.intermediate:
            base = {"cuff_mmHg": self.sys_mmHg}
        else:
            base = {
                "sys_mmHg": self.sys_mmHg,
                "dia_mmHg": self.dia_mmHg,
                "map_mmHg": self.map_mmHg,
            }
        return {
            **base,
            "pulse_bpm": self.pulse_bpm,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "user_id": self.user_id,
            "status": list(self.status),
            "valid": self.valid,
        }


@dataclass(frozen=True, slots=True)
class BloodPressureFeatures:
    raw: int
    supported: tuple[str, ...]


def _pressure(
    raw: float | Special, kpa: bool, name: str, allow_zero: bool
) -> float | Reject | None:
    if isinstance(raw, Special):
        return None
    value = raw * KPA_TO_MMHG if kpa else raw
    unit = "kPa" if kpa else "mmHg"
    if value == 0 and not allow_zero:
        # 0 is inside the range below: say what is wrong with it (only MAP 0 means absent)
        return Reject(RejectReason.IMPLAUSIBLE, f"{name} 0 {unit}: no pressure, not a measurement")
    if value < 0 or value > PRESSURE_MAX_mmHg:
        return Reject(RejectReason.IMPLAUSIBLE, f"{name} {raw:g} {unit} outside 0..300 mmHg")
    return round(value, 1)


def decode_bp(
    data: bytes, quirks: frozenset[str] = frozenset(), *, intermediate: bool = False
) -> BloodPressure | Reject:
    """Decode a 0x2A35 (or, with `intermediate`, 0x2A36) value. Never raises."""
    what = "cuff pressure" if intermediate else "blood pressure measurement"
    if len(data) < 7:
        return Reject(RejectReason.BAD_LENGTH, f"{what}: {len(data)} bytes, need >= 7")
    flags = data[0]
    out_flags: list[str] = []
    if flags & F_RESERVED:
        out_flags.append("reserved_flags")
    kpa = bool(flags & F_KPA)

    pressures: list[float | None] = []
    for i, name in enumerate(("cuff" if intermediate else "sys", "dia", "map")):
        raw = sfloat_le(data, 1 + 2 * i)
        if intermediate and i > 0:
            pressures.append(None)  # unused in 0x2A36, whatever the cuff put there
            continue
        allow_zero = intermediate or name == "map"
        p = _pressure(raw, kpa, name, allow_zero)
        if isinstance(p, Reject):
            return p
        pressures.append(p)
    sys_, dia, map_ = pressures
    if map_ == 0:
        map_ = None
        out_flags.append("map_absent")

    # Expected layout from the flags (and quirks that add undeclared bytes)
    be = Q_PULSE_STATUS_BE in quirks
    extra_user = Q_USER_ID_WITHOUT_FLAG in quirks and not flags & F_USER and flags & F_PULSE
    expected = 7
    expected += 7 if flags & F_TIME else 0
    expected += 2 if flags & F_PULSE else 0
    expected += 1 if flags & F_USER or extra_user else 0
    expected += 2 if flags & F_STATUS else 0

    measured_at: datetime | None = None
    pulse: float | None = None
    user_id: int | None = None
    matches = len(data) == expected
    if not matches:
        if intermediate:
            return Reject(
                RejectReason.BAD_LENGTH,
                f"{what}: {len(data)} bytes, flags 0x{flags:02x} say {expected}",
            )
        out_flags.append("length_mismatch")
    off = 7
    if flags & F_TIME and len(data) >= off + 7:
        # Right after MAP, where the flags put it whatever else is wrong with the length.
        measured_at, clock_flag = parse_date_time(data, off)
        if clock_flag:
            out_flags.append(clock_flag)
    off += 7 if flags & F_TIME else 0
    if matches:
        # pulse, user ID and status: only where the whole layout is accounted for
        if flags & F_PULSE:
            raw = sfloat_be(data, off) if be else sfloat_le(data, off)
            off += 2
            if not isinstance(raw, Special):
                pulse = pulse_in_range(raw, out_flags)
        if flags & F_USER or extra_user:
            user_id = None if data[off] == 0xFF else data[off]
            if extra_user:
                out_flags.append("undeclared_user_id")
            off += 1
        if flags & F_STATUS:
            word = (data[off] << 8 | data[off + 1]) if be else (data[off] | data[off + 1] << 8)
            out_flags.extend(_status_names(word))

    if intermediate:
        valid = sys_ is not None
    else:
        valid = sys_ is not None and dia is not None
        if sys_ is None and dia is None and map_ is None:
            out_flags.insert(0, "cuff_error")
    return BloodPressure(
        sys_mmHg=sys_,
        dia_mmHg=dia,
        map_mmHg=map_,
        pulse_bpm=pulse,
        measured_at=measured_at,
        user_id=user_id,
        status=tuple(out_flags),
        valid=valid,
        intermediate=intermediate,
    )


def _status_names(word: int) -> list[str]:
    names = bit_names(word & ~0x0018, _STATUS_NAMES, "status")
    rng = (word >> 3) & 0x3
    if rng == 1:
        names.append("pulse_above_range")
    elif rng == 2:
        names.append("pulse_below_range")
    elif rng == 3:
        names.append("pulse_range_reserved")
    return names


def decode_icp(data: bytes, quirks: frozenset[str] = frozenset()) -> BloodPressure | Reject:
    return decode_bp(data, quirks, intermediate=True)


def decode_features(data: bytes) -> BloodPressureFeatures | Reject:
    if len(data) != 2:
        return Reject(RejectReason.BAD_LENGTH, f"bp feature: {len(data)} bytes, need 2")
    raw = data[0] | data[1] << 8
    return BloodPressureFeatures(raw, tuple(bit_names(raw, _FEATURE_NAMES, "feature")))


def bp_sample(data: bytes, quirks: frozenset[str]) -> Measurement | Reject:
    rec = decode_bp(data, quirks)
    if isinstance(rec, Reject):
        return rec
    return Measurement(
        kind=Kind.BP,
        values={
            "sys_mmHg": rec.sys_mmHg,
            "dia_mmHg": rec.dia_mmHg,
            "map_mmHg": rec.map_mmHg,
            "pulse_bpm": rec.pulse_bpm,
        },
        valid=rec.valid,
        flags=rec.status,
        device_time=rec.measured_at,
    )


def icp_sample(data: bytes, quirks: frozenset[str]) -> Reject | None:
    """Cuff pressure during a measurement is progress, not a reading."""
    rec = decode_icp(data, quirks)
    return rec if isinstance(rec, Reject) else None


BLE_PROFILE = BleProfile(
    service_uuid=SERVICE,
    subscriptions=(
        BleSubscription(ICP_UUID, "notify", icp_sample, "0x2A36 intermediate cuff pressure"),
        BleSubscription(BPM_UUID, "indicate", bp_sample, "0x2A35 blood pressure measurement"),
    ),
    features=(BleFeature(FEATURE_UUID, decode_features, "0x2A49 blood pressure feature"),),
    silence_s=1800.0,  # three 600 s NIBP cycles without a reading
    model_quirks=MODEL_QUIRKS,
    known_quirks=KNOWN_QUIRKS,
)

DRIVER = DriverDescriptor(
    name="ble-bpm",
    transport="ble",
    kinds=(Kind.BP,),
    summary="Bluetooth LE Blood Pressure Service 0x1810 cuff (0x2A35, 0x2A36, 0x2A49)",
    settings=BleLinkSettings,
    ble_profile=BLE_PROFILE,
)
PROFILE_BPM = DecodeProfile(
    name="ble-bpm",
    input="hex",
    summary="Blood Pressure Measurement 0x2A35 value",
    decode=one_record(decode_bp),
    decode_with_quirks=one_record(decode_bp),
    quirks_for_name=lambda name: BLE_PROFILE.quirks_for(name, None),
)
PROFILE_ICP = DecodeProfile(
    name="ble-icp",
    input="hex",
    summary="Intermediate Cuff Pressure 0x2A36 value",
    decode=one_record(decode_icp),
    decode_with_quirks=one_record(decode_icp),
    quirks_for_name=lambda name: BLE_PROFILE.quirks_for(name, None),
)
