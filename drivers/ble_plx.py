"""Bluetooth SIG Pulse Oximeter Service 0x1822: spot-check, continuous, features.

All multi-byte fields little-endian; SpO2 (%), PR (bpm) and PAI (%) are SFLOAT.

PLX Spot-Check Measurement 0x2A5E (indicate):

    byte 0      1..2   3..4  [7]         [2]           [3]              [2]
        +------+------+-----+-----------+-------------+----------------+-----+
        |flags | SpO2 | PR  | timestamp | meas.status | device+sensor  | PAI |
        +------+------+-----+-----------+-------------+----------------+-----+
    flags: bit0 timestamp  bit1 measurement status  bit2 device and sensor status
           bit3 pulse amplitude index  bit4 device clock not set  bits5-7 reserved

PLX Continuous Measurement 0x2A5F (notify):

    byte 0      1..2  3..4  [2+2]        [2+2]        [2]          [3]          [2]
        +------+-----+-----+------------+------------+------------+------------+-----+
        |flags |SpO2 | PR  | SpO2/PR    | SpO2/PR    | meas.status| device +   | PAI |
        |      |norm.|norm.| fast       | slow       |            | sensor     |     |
        +------+-----+-----+------------+------------+------------+------------+-----+
    flags: bit0 fast pair  bit1 slow pair  bit2 measurement status
           bit3 device and sensor status  bit4 PAI  bits5-7 reserved

Measurement status (uint16): bit5 ongoing, 6 early estimate, 7 validated, 8 fully
qualified, 9 from storage, 10 demo data, 11 test data, 12 calibration ongoing,
13 unavailable, 14 questionable, 15 invalid.
Bit 9 (from storage) keeps the value valid; the hub takes such a spot-check as history
(flag `from_storage`: stored, fed to no rule; monitord/history.py).
Device and sensor status (uint24): bit0 extended display update, 1 equipment malfunction,
2 signal processing irregularity, 3 inadequate signal, 4 poor signal, 5 low perfusion,
6 erratic signal, 7 nonpulsatile signal, 8 questionable pulse, 9 signal analysis ongoing,
10 sensor interference, 11 sensor unconnected to user, 12 unknown sensor, 13 sensor
displaced, 14 sensor malfunctioning, 15 sensor disconnected. Bits 11, 13 and 15 mean the
probe is off the patient (`contact: false`, flag `probe_off`).

Validity: a reading is not valid when the measurement status says invalid, unavailable,
questionable, calibration ongoing, demo or test data (the same 11073 MeasurementState bits
make an IntelliVue value not valid: `intellivue_frames.STATE_NOT_VALID`), or when the
device and sensor status says equipment malfunction, unknown sensor or sensor malfunction
(as Masimo's defective / unrecognized sensor). Those three are not probe-off: `contact`
follows bits 11, 13 and 15 only.

PLX Features 0x2A60 (read): uint16 supported features (bit0 measurement status, bit1
device and sensor status, bit2 spot-check storage, bit3 spot-check timestamp, bit4 fast,
bit5 slow, bit6 PAI, bit7 multiple bonds), then uint16 measurement-status support if
bit0, then uint24 device-and-sensor-status support if bit1.

The length must match the flags exactly: a PLX notification has no fixed part worth
rescuing, so a mismatch is a typed reject.
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
    BleFeature,
    BleLinkSettings,
    BleProfile,
    BleSubscription,
    bit_names,
    parse_date_time,
    pulse_in_range,
    uuid16,
)
from monitord.drivers.measurement import SPO2_RANGE_pct
from monitord.drivers.sfloat import Special, sfloat_le
from monitord.models import FROM_STORAGE, Kind

SERVICE = uuid16(0x1822)
SPOT_UUID = uuid16(0x2A5E)
CONT_UUID = uuid16(0x2A5F)
FEATURES_UUID = uuid16(0x2A60)

MEAS_STATUS_NAMES = {
    5: "measurement_ongoing",
    6: "early_estimate",
    7: "validated",
    8: "fully_qualified",
    9: FROM_STORAGE,  # history: the hub marks it `stored` (monitord/history.py)
    10: "demo_data",
    11: "test_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable",
    15: "invalid",
}
DEVICE_STATUS_NAMES = {
    0: "extended_display_update",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "nonpulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected",
    12: "unknown_sensor",
    13: "sensor_displaced",
    14: "sensor_malfunction",
    15: "sensor_disconnected",
}
FEATURE_NAMES = {
    0: "measurement_status",
    1: "device_sensor_status",
    2: "spot_check_storage",
    3: "spot_check_timestamp",
    4: "spo2pr_fast",
    5: "spo2pr_slow",
    6: "pulse_amplitude_index",
    7: "multiple_bonds",
}
PROBE_OFF_BITS = (1 << 11) | (1 << 13) | (1 << 15)
# The device says the number is not a measurement of this patient right now, or not one to
# rely on: a questionable value or one taken while calibrating is not passed on as valid
# (an IntelliVue value with these bits is not, either).
INVALID_MEAS = frozenset(
    {
        "measurement_unavailable",
        "invalid",
        "questionable",
        "calibration_ongoing",
        "demo_data",
        "test_data",
    }
)
# The device says its sensor (or itself) is faulty: the number cannot be trusted, as with
# Masimo's defective or unrecognized sensor. Not probe-off: the probe may be on the patient.
INVALID_DEVICE = frozenset({"equipment_malfunction", "unknown_sensor", "sensor_malfunction"})


@dataclass(frozen=True, slots=True)
class PulseOx:
    spo2_pct: float | None
    pulse_bpm: float | None
    pai_pct: float | None
    measured_at: datetime | None  # spot-check only
    status: tuple[str, ...]
    contact: bool | None  # False: probe off; None: the device reports no sensor status
    valid: bool
    spo2_fast_pct: float | None = None
    pulse_fast_bpm: float | None = None
    spo2_slow_pct: float | None = None
    pulse_slow_bpm: float | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "spo2_pct": self.spo2_pct,
            "pulse_bpm": self.pulse_bpm,
            "pai_pct": self.pai_pct,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "status": list(self.status),
            "contact": self.contact,
            "valid": self.valid,
        }


@dataclass(frozen=True, slots=True)
class PulseOxFeatures:
    supported: tuple[str, ...]
    measurement_status_support: tuple[str, ...]
    device_status_support: tuple[str, ...]


def _spo2(raw: float | Special, status: list[str], what: str) -> float | Reject | None:
    """The primary SpO2: outside 0..100 % the notification is no measurement (a reject)."""
    if isinstance(raw, Special):
        return None
    if not SPO2_RANGE_pct[0] <= raw <= SPO2_RANGE_pct[1]:
        return Reject(RejectReason.IMPLAUSIBLE, f"{what} {raw:g} % outside 0..100")
    return None if raw == 0 else round(raw, 1)  # 0 %: the probe has nothing


def _spo2_secondary(raw: float | Special, status: list[str], flag: str) -> float | None:
    """SpO2 fast or slow, secondary values (ble_gatt.py): outside 0..100 % dropped with
    `flag`, not the notification with them, which would lose the primary SpO2 and pulse
    it carries (a device marking "none" with 127 instead of the SFLOAT NaN would then give
    no reading at all)."""
    if isinstance(raw, Special):
        return None
    if not SPO2_RANGE_pct[0] <= raw <= SPO2_RANGE_pct[1]:
        status.append(flag)
        return None
    return None if raw == 0 else round(raw, 1)


def _pr(raw: float | Special, status: list[str]) -> float | None:
    return None if isinstance(raw, Special) else pulse_in_range(raw, status)


def _pai(raw: float | Special, status: list[str]) -> float | None:
    if isinstance(raw, Special):
        return None
    if 0 <= raw <= 100:
        return raw
    status.append("pai_implausible")
    return None


def _status(
    data: bytes, off: int, has_meas: bool, has_dev: bool, status: list[str]
) -> tuple[int, bool | None, bool]:
    """-> (offset after the status fields, contact, whether the status refuses the value)."""
    refused = False
    contact: bool | None = None
    if has_meas:
        word = data[off] | data[off + 1] << 8
        off += 2
        names = bit_names(word, MEAS_STATUS_NAMES, "meas_status")
        refused = not INVALID_MEAS.isdisjoint(names)
        status.extend(names)
    if has_dev:
        word = data[off] | data[off + 1] << 8 | data[off + 2] << 16
        off += 3
        names = bit_names(word, DEVICE_STATUS_NAMES, "device_status")
        refused = refused or not INVALID_DEVICE.isdisjoint(names)
        status.extend(names)
        contact = not word & PROBE_OFF_BITS
        if not contact:
            status.append("probe_off")
    return off, contact, refused


def decode_spot(data: bytes, quirks: frozenset[str] = frozenset()) -> PulseOx | Reject:
    """Decode a 0x2A5E value. Never raises."""
    if len(data) < 5:
        return Reject(RejectReason.BAD_LENGTH, f"plx spot-check: {len(data)} bytes, need >= 5")
    flags = data[0]
    expected = (
        5
        + (7 if flags & 0x01 else 0)
        + (2 if flags & 0x02 else 0)
        + (3 if flags & 0x04 else 0)
        + (2 if flags & 0x08 else 0)
    )
    if len(data) != expected:
        return Reject(
            RejectReason.BAD_LENGTH,
            f"plx spot-check: {len(data)} bytes, flags 0x{flags:02x} say {expected}",
        )
    status: list[str] = ["reserved_flags"] if flags & 0xE0 else []
    spo2 = _spo2(sfloat_le(data, 1), status, "SpO2")
    if isinstance(spo2, Reject):
        return spo2
    pr = _pr(sfloat_le(data, 3), status)
    off = 5
    measured_at: datetime | None = None
    if flags & 0x01:
        measured_at, clock_flag = parse_date_time(data, off)
        off += 7
        if flags & 0x10:  # the device says its own clock is not set: do not believe it
            measured_at, clock_flag = None, "device_clock_unset"
        if clock_flag:
            status.append(clock_flag)
    elif flags & 0x10:
        status.append("device_clock_unset")
    off, contact, refused = _status(data, off, bool(flags & 0x02), bool(flags & 0x04), status)
    pai = _pai(sfloat_le(data, off), status) if flags & 0x08 else None
    return PulseOx(
        spo2_pct=spo2,
        pulse_bpm=pr,
        pai_pct=pai,
        measured_at=measured_at,
        status=tuple(status),
        contact=contact,
        valid=spo2 is not None and contact is not False and not refused,
    )


def decode_cont(data: bytes, quirks: frozenset[str] = frozenset()) -> PulseOx | Reject:
    """Decode a 0x2A5F value. Never raises."""
    if len(data) < 5:
        return Reject(RejectReason.BAD_LENGTH, f"plx continuous: {len(data)} bytes, need >= 5")
    flags = data[0]
    expected = (
        5
        + (4 if flags & 0x01 else 0)
        + (4 if flags & 0x02 else 0)
        + (2 if flags & 0x04 else 0)
        + (3 if flags & 0x08 else 0)
        + (2 if flags & 0x10 else 0)
    )
    if len(data) != expected:
        return Reject(
            RejectReason.BAD_LENGTH,
            f"plx continuous: {len(data)} bytes, flags 0x{flags:02x} say {expected}",
        )
    status: list[str] = ["reserved_flags"] if flags & 0xE0 else []
    pairs: list[tuple[float | None, float | None]] = []
    off = 1
    for present, flag in (
        (True, ""),
        (flags & 0x01, "spo2_fast_implausible"),
        (flags & 0x02, "spo2_slow_implausible"),
    ):
        if not present:
            pairs.append((None, None))
            continue
        raw = sfloat_le(data, off)
        spo2 = _spo2_secondary(raw, status, flag) if flag else _spo2(raw, status, "SpO2")
        if isinstance(spo2, Reject):
            return spo2
        pairs.append((spo2, _pr(sfloat_le(data, off + 2), status)))
        off += 4
    off, contact, refused = _status(data, off, bool(flags & 0x04), bool(flags & 0x08), status)
    pai = _pai(sfloat_le(data, off), status) if flags & 0x10 else None
    (spo2_n, pr_n), (spo2_f, pr_f), (spo2_s, pr_s) = pairs
    return PulseOx(
        spo2_pct=spo2_n,
        pulse_bpm=pr_n,
        pai_pct=pai,
        measured_at=None,
        status=tuple(status),
        contact=contact,
        valid=spo2_n is not None and contact is not False and not refused,
        spo2_fast_pct=spo2_f,
        pulse_fast_bpm=pr_f,
        spo2_slow_pct=spo2_s,
        pulse_slow_bpm=pr_s,
    )


def decode_features(data: bytes) -> PulseOxFeatures | Reject:
    """Decode a 0x2A60 value. Never raises."""
    if len(data) < 2:
        return Reject(RejectReason.BAD_LENGTH, f"plx features: {len(data)} bytes, need >= 2")
    raw = data[0] | data[1] << 8
    expected = 2 + (2 if raw & 0x01 else 0) + (3 if raw & 0x02 else 0)
    if len(data) != expected:
        return Reject(
            RejectReason.BAD_LENGTH,
            f"plx features: {len(data)} bytes, feature bits 0x{raw:04x} say {expected}",
        )
    off = 2
    meas: list[str] = []
    dev: list[str] = []
    if raw & 0x01:
        meas = bit_names(data[off] | data[off + 1] << 8, MEAS_STATUS_NAMES, "meas_status")
        off += 2
    if raw & 0x02:
        word = data[off] | data[off + 1] << 8 | data[off + 2] << 16
        dev = bit_names(word, DEVICE_STATUS_NAMES, "device_status")
    return PulseOxFeatures(tuple(bit_names(raw, FEATURE_NAMES, "feature")), tuple(meas), tuple(dev))


def _sample(rec: PulseOx, record: bool = False) -> Measurement:
    return Measurement(
        kind=Kind.SPO2,
        values={"spo2_pct": rec.spo2_pct, "pulse_bpm": rec.pulse_bpm},
        valid=rec.valid,
        flags=rec.status,
        contact=rec.contact,
        device_time=rec.measured_at,
        record=record,
    )


def spot_sample(data: bytes, quirks: frozenset[str]) -> Measurement | Reject:
    rec = decode_spot(data, quirks)
    # A spot-check is a record the oximeter keeps and re-sends on the next connection.
    return rec if isinstance(rec, Reject) else _sample(rec, record=True)


def cont_sample(data: bytes, quirks: frozenset[str]) -> Measurement | Reject:
    rec = decode_cont(data, quirks)
    return rec if isinstance(rec, Reject) else _sample(rec)


BLE_PROFILE = BleProfile(
    service_uuid=SERVICE,
    subscriptions=(
        BleSubscription(CONT_UUID, "notify", cont_sample, "0x2A5F plx continuous"),
        BleSubscription(SPOT_UUID, "indicate", spot_sample, "0x2A5E plx spot-check"),
    ),
    features=(BleFeature(FEATURES_UUID, decode_features, "0x2A60 plx features"),),
    silence_s=10.0,  # continuous oximeters notify about once a second
)

DRIVER = DriverDescriptor(
    name="ble-plx",
    transport="ble",
    kinds=(Kind.SPO2,),
    summary="Bluetooth LE Pulse Oximeter Service 0x1822 (0x2A5E, 0x2A5F, 0x2A60)",
    settings=BleLinkSettings,
    ble_profile=BLE_PROFILE,
)
PROFILE_SPOT = DecodeProfile(
    name="ble-plx-spot",
    input="hex",
    summary="PLX Spot-Check Measurement 0x2A5E value",
    decode=one_record(decode_spot),
)
PROFILE_CONT = DecodeProfile(
    name="ble-plx-cont",
    input="hex",
    summary="PLX Continuous Measurement 0x2A5F value",
    decode=one_record(decode_cont),
)
