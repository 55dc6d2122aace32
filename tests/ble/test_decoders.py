"""Table-driven tests of the BLE GATT decoders.

Real captures (each row names its public source) plus vectors built from the Bluetooth
SIG specifications (Blood Pressure Service 1.1, Heart Rate Service 1.0, Pulse Oximeter
Service 1.0 / GATT Specification Supplement) for every flag combination.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from monitord.cli import main as cli_main
from monitord.drivers import intellivue_frames as IV
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.ble_bpm import (
    BLE_PROFILE as BPM_PROFILE,
)
from monitord.drivers.ble_bpm import (
    BloodPressure,
    decode_bp,
    decode_features,
    decode_icp,
)
from monitord.drivers.ble_gatt import range_violations
from monitord.drivers.ble_hrm import HeartRate, decode_hrm
from monitord.drivers.ble_plx import PulseOx, decode_cont, decode_spot
from monitord.drivers.ble_plx import decode_features as decode_plx_features

NAN, NRES, PINF, NINF, RSVD = 0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801
TS = datetime(2024, 6, 15, 17, 17, 27, tzinfo=UTC)
TS_BYTES = bytes.fromhex("E807060F11111B")


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --------------------------------------------------------------------------- real captures
BPM_CAPTURES: list[tuple[str, str, dict[str, Any]]] = [
    (
        # derdilla/blood-pressure-monitor-fl issue #80 (andreassch, 2024-06-23): cuff showed
        # "Err" after moving during the measurement; all values NaN, status word 0.
        "github.com/derdilla/blood-pressure-monitor-fl/issues/80 (Err, movement)",
        "16 FF 07 FF 07 FF 07 E8 07 06 17 0E 23 0A FF 07 00 00",
        {
            "sys_mmHg": None,
            "dia_mmHg": None,
            "map_mmHg": None,
            "pulse_bpm": None,
            "measured_at": "2024-06-23T14:35:10+00:00",
            "user_id": None,
            "status": ["cuff_error"],
            "valid": False,
        },
    ),
    (
        # same thread, same day: "Err CUF" (cuff too loose), again all NaN and status 0.
        "github.com/derdilla/blood-pressure-monitor-fl/issues/80 (Err CUF)",
        "16 FF 07 FF 07 FF 07 E8 07 06 17 0E 2F 3B FF 07 00 00",
        {
            "sys_mmHg": None,
            "dia_mmHg": None,
            "map_mmHg": None,
            "pulse_bpm": None,
            "measured_at": "2024-06-23T14:47:59+00:00",
            "user_id": None,
            "status": ["cuff_error"],
            "valid": False,
        },
    ),
    (
        # public capture listed in /work/shared/protocols.md: 124/86, MAP 97, pulse 51.
        "protocols.md public capture (124/86 MAP 97, 2024-06-15 17:17:27, pulse 51)",
        "16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00",
        {
            "sys_mmHg": 124.0,
            "dia_mmHg": 86.0,
            "map_mmHg": 97.0,
            "pulse_bpm": 51.0,
            "measured_at": "2024-06-15T17:17:27+00:00",
            "user_id": None,
            "status": [],
            "valid": True,
        },
    ),
]

HRM_CAPTURES: list[tuple[str, str, dict[str, Any]]] = [
    # real strap captures listed in /work/shared/protocols.md
    ("protocols.md strap capture 1", "16 34 E4 04", {"hr_bpm": 52, "rr_ms": [1222.7]}),
    ("protocols.md strap capture 2", "16 33 DE 04", {"hr_bpm": 51, "rr_ms": [1216.8]}),
    ("protocols.md strap capture 3", "16 48 54 01 EC 02", {"hr_bpm": 72, "rr_ms": [332.0, 730.5]}),
]


@pytest.mark.parametrize(("source", "payload", "expected"), BPM_CAPTURES)
def test_bpm_real_captures(source: str, payload: str, expected: dict[str, Any]) -> None:
    rec = decode_bp(h(payload))
    assert isinstance(rec, BloodPressure), source
    assert rec.to_record() == expected


@pytest.mark.parametrize(("source", "payload", "expected"), HRM_CAPTURES)
def test_hrm_real_captures(source: str, payload: str, expected: dict[str, Any]) -> None:
    rec = decode_hrm(h(payload))
    assert isinstance(rec, HeartRate), source
    assert rec.hr_bpm == expected["hr_bpm"]
    assert list(rec.rr_ms) == expected["rr_ms"]
    assert rec.contact is True and rec.valid  # flags 0x16: contact supported + detected


# ------------------------------------------------------------- 0x2A35: every flag combination
def build_bpm(flags: int, user: int = 3, status: int = 0x0009) -> bytes:
    kpa = flags & 0x01
    # mmHg 120/80/93, or kPa 16.0/10.7/12.4 (SFLOAT exponent -1)
    sys_, dia, map_ = (0xF0A0, 0xF06B, 0xF07C) if kpa else (0x0078, 0x0050, 0x005D)
    out = bytes([flags]) + struct.pack("<HHH", sys_, dia, map_)
    if flags & 0x02:
        out += TS_BYTES
    if flags & 0x04:
        out += struct.pack("<H", 0x0033)  # 51 bpm
    if flags & 0x08:
        out += bytes([user])
    if flags & 0x10:
        out += struct.pack("<H", status)
    return out


@pytest.mark.parametrize("flags", range(32))
def test_bpm_every_flag_combination(flags: int) -> None:
    rec = decode_bp(build_bpm(flags))
    assert isinstance(rec, BloodPressure)
    if flags & 0x01:  # kPa -> mmHg (1 kPa = 7.50062 mmHg), one decimal
        assert (rec.sys_mmHg, rec.dia_mmHg, rec.map_mmHg) == (120.0, 80.3, 93.0)
    else:
        assert (rec.sys_mmHg, rec.dia_mmHg, rec.map_mmHg) == (120.0, 80.0, 93.0)
    assert rec.measured_at == (TS if flags & 0x02 else None)
    assert rec.pulse_bpm == (51.0 if flags & 0x04 else None)
    assert rec.user_id == (3 if flags & 0x08 else None)
    expected_status = ["body_movement", "pulse_above_range"] if flags & 0x10 else []
    assert list(rec.status) == expected_status
    assert rec.valid


@pytest.mark.parametrize(
    ("status", "names"),
    [
        (0x0001, ["body_movement"]),
        (0x0002, ["cuff_too_loose"]),
        (0x0004, ["irregular_pulse"]),
        (0x0008, ["pulse_above_range"]),
        (0x0010, ["pulse_below_range"]),
        (0x0018, ["pulse_range_reserved"]),
        (0x0020, ["improper_position"]),
        (0x0040, ["status_bit6"]),  # reserved bits are kept, by number
        (0x0027, ["body_movement", "cuff_too_loose", "irregular_pulse", "improper_position"]),
    ],
)
def test_bpm_status_bits(status: int, names: list[str]) -> None:
    rec = decode_bp(build_bpm(0x10, status=status))
    assert isinstance(rec, BloodPressure) and list(rec.status) == names


@pytest.mark.parametrize(
    ("raw", "label"), [(NAN, "NaN"), (NRES, "NRes"), (PINF, "+INF"), (NINF, "-INF"), (RSVD, "rsvd")]
)
def test_bpm_special_values_are_no_value(raw: int, label: str) -> None:
    data = bytes([0x00]) + struct.pack("<HHH", raw, 0x0050, 0x005D)
    rec = decode_bp(data)
    assert isinstance(rec, BloodPressure), label
    assert rec.sys_mmHg is None and rec.dia_mmHg == 80.0 and not rec.valid
    pulse_nan = decode_bp(build_bpm(0x04)[:-2] + struct.pack("<H", raw))
    assert isinstance(pulse_nan, BloodPressure) and pulse_nan.pulse_bpm is None
    assert pulse_nan.valid  # a NaN pulse does not spoil a sound BP


@pytest.mark.parametrize("field", ["year", "month", "day"])
def test_bpm_timestamp_year_0_is_unknown(field: str) -> None:
    """Year 0 (and month or day 0) is "not known" (shared/protocols.md), not a time: the
    public 124/86 capture with its 2024-06-15 zeroed. The reading stands, without a time,
    and the pulse after the timestamp is where the flags say."""
    real = h("16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00")
    at = {"year": slice(7, 9), "month": slice(9, 10), "day": slice(10, 11)}[field]
    zeroed = bytearray(real)
    zeroed[at] = bytes(at.stop - at.start)
    rec = decode_bp(bytes(zeroed))
    assert isinstance(rec, BloodPressure)
    assert rec.measured_at is None and "device_clock_unset" in rec.status
    assert (rec.sys_mmHg, rec.dia_mmHg, rec.map_mmHg, rec.pulse_bpm) == (124, 86, 97, 51)
    assert rec.valid


def test_bpm_user_id_unknown_and_map_zero() -> None:
    rec = decode_bp(build_bpm(0x08, user=0xFF))
    assert isinstance(rec, BloodPressure) and rec.user_id is None
    rec = decode_bp(bytes([0x00]) + struct.pack("<HHH", 0x0078, 0x0050, 0x0000))
    assert isinstance(rec, BloodPressure)
    assert rec.map_mmHg is None and "map_absent" in rec.status and rec.valid


def test_bpm_only_all_nan_is_a_cuff_error() -> None:
    """protocols.md: an error reading has *all* values NaN (the cuff showed "Err"); that is
    `cuff_error`. A reading that lost only sys and dia (MAP still measured) is not valid
    (no BP fields to judge) but is not that cuff error: flagging it so told the engineer
    reading `monitord decode` the cuff displayed "Err" when it did not."""
    nan = 0x07FF
    rec = decode_bp(bytes([0x00]) + struct.pack("<HHH", nan, nan, 0x005D))
    assert isinstance(rec, BloodPressure)
    assert not rec.valid and rec.map_mmHg == 93 and "cuff_error" not in rec.status
    rec = decode_bp(bytes([0x00]) + struct.pack("<HHH", nan, nan, nan))
    assert isinstance(rec, BloodPressure)
    assert not rec.valid and rec.status == ("cuff_error",)


# The detail is what the engineer reads in the log and `monitord decode`: it names the
# field and what is wrong with it. A 0 is inside 0..300 mmHg: it was reported as
# "sys 0 mmHg outside 0..300 mmHg", a reason that contradicts itself.
@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        ("", RejectReason.BAD_LENGTH, "0 bytes, need >= 7"),
        ("16", RejectReason.BAD_LENGTH, "1 bytes, need >= 7"),
        ("16 7C 00 56 00 61", RejectReason.BAD_LENGTH, "6 bytes, need >= 7"),  # BP fields cut
        ("00 2D 01 56 00 61 00", RejectReason.IMPLAUSIBLE, "sys 301 mmHg outside 0..300 mmHg"),
        ("00 FF 0F 56 00 61 00", RejectReason.IMPLAUSIBLE, "sys -1 mmHg outside 0..300 mmHg"),
        ("00 00 00 56 00 61 00", RejectReason.IMPLAUSIBLE, "sys 0 mmHg: no pressure"),
        ("00 7C 00 00 00 61 00", RejectReason.IMPLAUSIBLE, "dia 0 mmHg: no pressure"),
        ("01 00 00 6B F0 7C F0", RejectReason.IMPLAUSIBLE, "sys 0 kPa: no pressure"),
        ("01 90 01 6B F0 7C F0", RejectReason.IMPLAUSIBLE, "sys 400 kPa outside 0..300 mmHg"),
    ],
)
def test_bpm_rejects(payload: str, reason: RejectReason, detail: str) -> None:
    rec = decode_bp(h(payload))
    assert isinstance(rec, Reject) and rec.reason == reason
    assert detail in rec.detail, rec


@pytest.mark.parametrize("cut", range(1, 11))
def test_bpm_truncated_keeps_bp_and_timestamp_drops_shiftable_fields(cut: int) -> None:
    full = build_bpm(0x1E)  # timestamp, pulse, user, status: 19 bytes
    rec = decode_bp(full[:-cut])
    assert isinstance(rec, BloodPressure)
    assert (rec.sys_mmHg, rec.dia_mmHg, rec.map_mmHg) == (120.0, 80.0, 93.0)
    assert rec.pulse_bpm is None and rec.user_id is None
    # the timestamp sits right after MAP whatever is wrong further on: kept while whole
    assert rec.measured_at == (TS if len(full) - cut >= 14 else None)
    assert "length_mismatch" in rec.status


def test_bpm_over_long_keeps_bp_and_timestamp_drops_shiftable_fields() -> None:
    rec = decode_bp(build_bpm(0x06) + b"\x00")
    assert isinstance(rec, BloodPressure)
    assert rec.sys_mmHg == 120.0 and rec.pulse_bpm is None and rec.measured_at == TS
    assert list(rec.status) == ["length_mismatch"]


def test_bpm_reserved_flags_flagged() -> None:
    rec = decode_bp(bytes([0x80]) + struct.pack("<HHH", 0x0078, 0x0050, 0x005D))
    assert isinstance(rec, BloodPressure) and rec.status == ("reserved_flags",)


def test_bpm_quirk_big_endian_pulse_and_status() -> None:
    # Beurer BM85 style (derdilla/blood-pressure-monitor-fl PR #735/#737): pulse and
    # status big-endian. Spec-built: pulse 72 = 00 48, status body movement = 00 01.
    data = bytes([0x14]) + struct.pack("<HHH", 0x0078, 0x0050, 0x005D) + h("00 48 00 01")
    quirky = decode_bp(data, frozenset({"pulse-status-be"}))
    assert isinstance(quirky, BloodPressure)
    assert quirky.pulse_bpm == 72.0 and quirky.status == ("body_movement",)
    # without the quirk: pulse 0x4800 is not a plausible number -> dropped, never 72 or
    # a made-up value; the BP survives
    plain = decode_bp(data)
    assert isinstance(plain, BloodPressure)
    assert plain.sys_mmHg == 120.0 and plain.pulse_bpm is None
    assert "pulse_implausible" in plain.status


def test_bpm_quirk_user_id_without_flag() -> None:
    data = build_bpm(0x16)
    with_user = data[:16] + b"\x01" + data[16:]  # user ID after pulse, flag bit3 clear
    quirky = decode_bp(with_user, frozenset({"user-id-without-flag"}))
    assert isinstance(quirky, BloodPressure)
    assert quirky.user_id == 1 and quirky.pulse_bpm == 51.0
    assert list(quirky.status) == ["undeclared_user_id", "body_movement", "pulse_above_range"]
    plain = decode_bp(with_user)
    assert isinstance(plain, BloodPressure) and "length_mismatch" in plain.status


BEURER = frozenset({"pulse-status-be", "user-id-without-flag", "settle-before-subscribe"})


@pytest.mark.parametrize(
    ("name", "quirks"),
    [
        # advertised names seen in derdilla/blood-pressure-monitor-fl docs/bluetooth.md
        ("Beurer BM85", BEURER),
        ("BM 59", BEURER),
        ("BM85", BEURER),
        ("beurer bm48/1", BEURER),  # issue #566 there: "Beurer BM48/1"
        ("Beurer ELITE 900", BEURER),
        ("Omron X4 Smart", frozenset()),
        ("SBM69", frozenset()),
        ("BM5", frozenset()),
        ("", frozenset()),
        (None, frozenset()),
    ],
)
def test_quirks_by_advertised_name(name: str | None, quirks: frozenset[str]) -> None:
    assert BPM_PROFILE.quirks_for(name, None) == quirks


def test_configured_quirks_replace_the_model_table() -> None:
    assert BPM_PROFILE.quirks_for("Beurer BM85", []) == frozenset()
    assert BPM_PROFILE.quirks_for("Beurer BM85", ["pulse-status-be"]) == {"pulse-status-be"}
    assert BPM_PROFILE.quirks_for("Other", ["episodic"]) == {"episodic"}
    assert BPM_PROFILE.accepted_quirks == BEURER | {"episodic"}
    assert BPM_PROFILE.quirks_for("Beurer BM85", ["settle-before-subscribe"]) == {
        "settle-before-subscribe"
    }


# ----------------------------------------------------------------------- 0x2A36 and 0x2A49
def test_icp() -> None:
    rec = decode_icp(h("00 96 00 FF 07 FF 07"))
    assert isinstance(rec, BloodPressure)
    assert rec.to_record()["cuff_mmHg"] == 150.0 and rec.intermediate
    zero = decode_icp(h("00 00 00 FF 07 FF 07"))  # cuff empty: 0 is a real pressure here
    assert isinstance(zero, BloodPressure) and zero.sys_mmHg == 0.0
    assert isinstance(decode_icp(h("02 96 00 FF 07 FF 07")), Reject)  # ts flag, no ts


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ("00 00", []),
        ("01 00", ["body_movement_detection"]),
        (
            "3F 00",
            [
                "body_movement_detection",
                "cuff_fit_detection",
                "irregular_pulse_detection",
                "pulse_rate_range_detection",
                "measurement_position_detection",
                "multiple_bonds",
            ],
        ),
        ("40 00", ["feature_bit6"]),
    ],
)
def test_bp_features(payload: str, names: list[str]) -> None:
    rec = decode_features(h(payload))
    assert not isinstance(rec, Reject) and list(rec.supported) == names


@pytest.mark.parametrize("payload", ["", "01", "01 00 00"])
def test_bp_features_length(payload: str) -> None:
    rec = decode_features(h(payload))
    assert isinstance(rec, Reject) and rec.reason == RejectReason.BAD_LENGTH


# ------------------------------------------------------------- 0x2A37: every flag combination
@pytest.mark.parametrize("flags", range(32))
def test_hrm_every_flag_combination(flags: int) -> None:
    data = bytes([flags]) + (struct.pack("<H", 0x0048) if flags & 1 else b"\x48")
    if flags & 0x08:
        data += struct.pack("<H", 256)
    if flags & 0x10:
        data += struct.pack("<HHH", 1024, 768, 820)  # 1000, 750, 800.8 ms
    rec = decode_hrm(data)
    assert isinstance(rec, HeartRate)
    assert rec.hr_bpm == 72
    assert rec.contact == {0: None, 1: None, 2: False, 3: True}[(flags >> 1) & 3]
    assert rec.energy_kJ == (256 if flags & 0x08 else None)
    assert list(rec.rr_ms) == ([1000.0, 750.0, 800.8] if flags & 0x10 else [])
    assert rec.valid == (rec.contact is not False)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("01 2C 01", 300),  # uint16 format
        ("01 28 00", 40),
        ("00 00", None),  # 0 = no value (strap off the chest)
    ],
)
def test_hrm_values(payload: str, expected: int | None) -> None:
    rec = decode_hrm(h(payload))
    assert isinstance(rec, HeartRate) and rec.hr_bpm == expected
    assert rec.valid == (expected is not None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", RejectReason.BAD_LENGTH),
        ("00", RejectReason.BAD_LENGTH),
        ("01 48", RejectReason.BAD_LENGTH),  # uint16 HR cut
        ("08 48 00", RejectReason.BAD_LENGTH),  # energy cut
        ("10 48 00 04 01", RejectReason.BAD_LENGTH),  # odd RR byte
        ("00 48 00", RejectReason.BAD_LENGTH),  # over-long
        ("01 90 01", RejectReason.IMPLAUSIBLE),  # 400 bpm
    ],
)
def test_hrm_rejects(payload: str, reason: RejectReason) -> None:
    rec = decode_hrm(h(payload))
    assert isinstance(rec, Reject) and rec.reason == reason


# The RR flag set with no RR value after the fields: the spec's flag text says "one or more
# RR-Interval values are present", but the strap vendor's own client reads the RR field
# as "while offset < length" and reports the rate with an empty RR list and its
# `rrPresent` true (polarofficial/polar-ble-sdk, sources/Android/android-communications/
# library/src/main/java/com/polar/androidcommunications/api/ble/model/gatt/client/
# BleHrClient.kt @01d7dd08, `processServiceData`), as do the Web Bluetooth sample parsers;
# Nordic's Android-BLE-Library (`HeartRateMeasurementDataCallback`) calls it invalid data.
# The rate's bytes sit where the flags put them either way: the rate is kept, flagged.
HRM_RR_FLAG_WITHOUT_RR: list[tuple[str, str, dict[str, Any]]] = [
    ("uint8 rate, contact detected", "16 48", {"hr_bpm": 72, "contact": True, "energy_kJ": None}),
    (
        "uint16 rate, no contact bits",
        "11 48 00",
        {"hr_bpm": 72, "contact": None, "energy_kJ": None},
    ),
    ("rate and energy", "1E 48 00 01", {"hr_bpm": 72, "contact": True, "energy_kJ": 256}),
]


@pytest.mark.parametrize(("name", "payload", "expected"), HRM_RR_FLAG_WITHOUT_RR)
def test_hrm_rr_flag_without_rr_keeps_the_rate(
    name: str, payload: str, expected: dict[str, Any]
) -> None:
    rec = decode_hrm(h(payload))
    assert isinstance(rec, HeartRate), f"{name}: {rec}"
    assert (rec.hr_bpm, rec.contact, rec.energy_kJ) == tuple(expected.values()), name
    assert rec.rr_ms == () and rec.status == ("rr_flag_without_rr",) and rec.valid, name


def test_hrm_implausible_rr_dropped() -> None:
    rec = decode_hrm(h("10 48 00 04 05 00"))  # 1000 ms, then 4.9 ms
    assert isinstance(rec, HeartRate)
    assert list(rec.rr_ms) == [1000.0] and "rr_implausible" in rec.status


# ----------------------------------------------------------- 0x2A5E: every flag combination
@pytest.mark.parametrize("flags", range(32))
def test_plx_spot_every_flag_combination(flags: int) -> None:
    data = bytes([flags]) + struct.pack("<HH", 0x0062, 0x0048)
    if flags & 0x01:
        data += TS_BYTES
    if flags & 0x02:
        data += struct.pack("<H", 0x0080)  # validated
    if flags & 0x04:
        data += (0x000020).to_bytes(3, "little")  # low perfusion
    if flags & 0x08:
        data += struct.pack("<H", 0xF032)  # PAI 5.0 %
    rec = decode_spot(data)
    assert isinstance(rec, PulseOx)
    assert (rec.spo2_pct, rec.pulse_bpm) == (98.0, 72.0)
    assert rec.measured_at == (TS if flags & 0x01 and not flags & 0x10 else None)
    assert ("validated" in rec.status) == bool(flags & 0x02)
    assert ("low_perfusion" in rec.status) == bool(flags & 0x04)
    assert rec.contact == (True if flags & 0x04 else None)
    assert rec.pai_pct == (5.0 if flags & 0x08 else None)
    assert ("device_clock_unset" in rec.status) == bool(flags & 0x10)
    assert rec.valid


# ----------------------------------------------------------- 0x2A5F: every flag combination
@pytest.mark.parametrize("flags", range(32))
def test_plx_cont_every_flag_combination(flags: int) -> None:
    data = bytes([flags]) + struct.pack("<HH", 0x0062, 0x0048)
    if flags & 0x01:
        data += struct.pack("<HH", 0x0061, 0x0049)  # fast 97 / 73
    if flags & 0x02:
        data += struct.pack("<HH", 0x0060, 0x0047)  # slow 96 / 71
    if flags & 0x04:
        data += struct.pack("<H", 0x4000)  # questionable
    if flags & 0x08:
        data += (0x000010).to_bytes(3, "little")  # poor signal
    if flags & 0x10:
        data += struct.pack("<H", 0xF032)
    rec = decode_cont(data)
    assert isinstance(rec, PulseOx)
    assert (rec.spo2_pct, rec.pulse_bpm) == (98.0, 72.0)
    assert (rec.spo2_fast_pct, rec.pulse_fast_bpm) == ((97.0, 73.0) if flags & 1 else (None, None))
    assert (rec.spo2_slow_pct, rec.pulse_slow_bpm) == ((96.0, 71.0) if flags & 2 else (None, None))
    assert ("questionable" in rec.status) == bool(flags & 0x04)
    assert ("poor_signal" in rec.status) == bool(flags & 0x08)
    assert rec.pai_pct == (5.0 if flags & 0x10 else None)
    # A questionable value is decoded in full but not valid (the IntelliVue driver refuses
    # the same 11073 bit); poor signal alone is a quality flag.
    assert rec.valid is not bool(flags & 0x04)


@pytest.mark.parametrize(
    ("dev_status", "flag"),
    [
        (1 << 11, "sensor_unconnected"),
        (1 << 13, "sensor_displaced"),
        (1 << 15, "sensor_disconnected"),
    ],
)
def test_plx_probe_off(dev_status: int, flag: str) -> None:
    data = bytes([0x08]) + struct.pack("<HH", 0x0062, 0x0048) + dev_status.to_bytes(3, "little")
    # the spot check's device and sensor status is its flag bit 2, after the timestamp
    # and the measurement status (both present here, so a field read out of order shows)
    spot = bytes([0x07]) + struct.pack("<HH", 0x0062, 0x0048) + TS_BYTES
    spot += struct.pack("<H", 0x0080) + dev_status.to_bytes(3, "little")
    for rec in (decode_cont(data), decode_spot(spot)):
        assert isinstance(rec, PulseOx)
        assert rec.contact is False and not rec.valid
        assert flag in rec.status and "probe_off" in rec.status
    # Each status from its own place, nothing else: with the timestamp not skipped, the
    # device status read from the timestamp's bytes (06 0F 11) has bit 11 set too, so
    # for `sensor_unconnected` the checks above held on a misread spot check.
    assert isinstance(rec, PulseOx) and rec.status == ("validated", flag, "probe_off")


# Measurement status (PLX service spec, GATT Specification Supplement): the bits 10-15 are
# the ISO/IEEE 11073-10201 MeasurementState bits the IntelliVue driver reads, in the same
# positions, so the two drivers refuse the same ones (intellivue_frames.STATE_NOT_VALID).
# Questionable (14) and calibration ongoing (12) were valid here until an audit compared
# the two drivers.
PLX_MEAS_STATUS: list[tuple[int, str, bool]] = [
    (1 << 5, "measurement_ongoing", True),
    (1 << 6, "early_estimate", True),
    (1 << 7, "validated", True),
    (1 << 8, "fully_qualified", True),
    (1 << 9, "from_storage", True),
    (1 << 10, "demo_data", False),
    (1 << 11, "test_data", False),
    (1 << 12, "calibration_ongoing", False),
    (1 << 13, "measurement_unavailable", False),
    (1 << 14, "questionable", False),
    (1 << 15, "invalid", False),
]


@pytest.mark.parametrize(
    ("meas", "name", "valid"), PLX_MEAS_STATUS, ids=[m[1] for m in PLX_MEAS_STATUS]
)
def test_plx_measurement_status_validity(meas: int, name: str, valid: bool) -> None:
    cont = decode_cont(bytes([0x04]) + struct.pack("<HHH", 0x0062, 0x0048, meas))
    spot = decode_spot(bytes([0x02]) + struct.pack("<HHH", 0x0062, 0x0048, meas))
    for rec in (cont, spot):
        assert isinstance(rec, PulseOx)
        assert rec.status == (name,) and rec.valid is valid
        assert (rec.spo2_pct, rec.pulse_bpm) == (98.0, 72.0)  # decoded, only judged
    assert valid is not bool(IV.STATE_NOT_VALID & meas)


# Device and sensor status (same source): a faulty device or sensor refuses the value, as
# Masimo's defective (0x002) and unrecognized (0x080) sensor do in drivers/masimo_ascii.py;
# it is not probe-off, so contact stays true. Signal quality bits are flags only.
PLX_DEVICE_STATUS: list[tuple[int, str, bool]] = [
    (1 << 1, "equipment_malfunction", False),
    (1 << 12, "unknown_sensor", False),
    (1 << 14, "sensor_malfunction", False),
    (1 << 3, "inadequate_signal", True),
    (1 << 5, "low_perfusion", True),
    (1 << 8, "questionable_pulse", True),
]


@pytest.mark.parametrize(
    ("dev_status", "name", "valid"), PLX_DEVICE_STATUS, ids=[d[1] for d in PLX_DEVICE_STATUS]
)
def test_plx_device_status_validity(dev_status: int, name: str, valid: bool) -> None:
    data = bytes([0x08]) + struct.pack("<HH", 0x0062, 0x0048) + dev_status.to_bytes(3, "little")
    rec = decode_cont(data)
    assert isinstance(rec, PulseOx)
    assert rec.status == (name,) and rec.valid is valid
    assert rec.contact is True  # a faulty sensor is not a probe off the patient


SPECIALS = [(NAN, "NaN"), (NRES, "NRes"), (PINF, "+INF"), (NINF, "-INF"), (RSVD, "rsvd")]


@pytest.mark.parametrize(("raw", "label"), SPECIALS)
def test_plx_special_values(raw: int, label: str) -> None:
    """Every SFLOAT special, the reserved 0x0801 too (shared/protocols.md), is no value in
    each SFLOAT field of both characteristics, never a number (0x0801 read as a plain
    SFLOAT is -2047)."""
    for decoder in (decode_spot, decode_cont):
        rec = decoder(bytes([0]) + struct.pack("<HH", raw, raw))
        assert isinstance(rec, PulseOx), label
        assert rec.spo2_pct is None and rec.pulse_bpm is None and not rec.valid
    # the fast and slow pairs and the PAI beside a sound primary reading
    rec = decode_cont(bytes([0x13]) + struct.pack("<HHHHHHH", 0x62, 0x48, *[raw] * 5))
    assert isinstance(rec, PulseOx), label
    assert (rec.spo2_pct, rec.pulse_bpm, rec.valid) == (98.0, 72.0, True)
    assert (rec.spo2_fast_pct, rec.pulse_fast_bpm, rec.spo2_slow_pct, rec.pulse_slow_bpm) == (
        None,
        None,
        None,
        None,
    )
    assert rec.pai_pct is None
    spot = decode_spot(bytes([0x08]) + struct.pack("<HHH", 0x62, 0x48, raw))
    assert isinstance(spot, PulseOx) and spot.pai_pct is None and spot.valid, label


@pytest.mark.parametrize(
    ("decoder", "payload", "reason"),
    [
        (decode_spot, "00 62 00 48", RejectReason.BAD_LENGTH),
        (decode_spot, "01 62 00 48 00", RejectReason.BAD_LENGTH),  # ts flag, no ts
        (decode_spot, "00 62 00 48 00 00", RejectReason.BAD_LENGTH),  # over-long
        (decode_spot, "00 65 00 48 00", RejectReason.IMPLAUSIBLE),  # SpO2 101 %
        (decode_cont, "", RejectReason.BAD_LENGTH),
        (decode_cont, "01 62 00 48 00 61 00", RejectReason.BAD_LENGTH),  # fast pair cut
        (decode_cont, "00 62 00 48 00 00", RejectReason.BAD_LENGTH),
        (decode_cont, "00 FF 0F 48 00", RejectReason.IMPLAUSIBLE),  # SpO2 -1 %
    ],
)
def test_plx_rejects(decoder: Any, payload: str, reason: RejectReason) -> None:
    rec = decoder(h(payload))
    assert isinstance(rec, Reject) and rec.reason == reason


@pytest.mark.parametrize(
    ("payload", "fast", "slow", "flags"),
    [
        ("01 62 00 48 00 FF 0F 48 00", None, None, ["spo2_fast_implausible"]),  # fast -1 %
        ("01 62 00 48 00 7F 00 48 00", None, None, ["spo2_fast_implausible"]),  # fast 127 %
        ("02 62 00 48 00 7F 00 48 00", None, None, ["spo2_slow_implausible"]),  # slow 127 %
        ("03 62 00 48 00 61 00 48 00 7F 00 48 00", 97, None, ["spo2_slow_implausible"]),
    ],
)
def test_plx_secondary_spo2_out_of_range_is_dropped_not_the_reading(
    payload: str, fast: float | None, slow: float | None, flags: list[str]
) -> None:
    # SpO2 fast and slow are secondary values (ble_gatt.py): one outside 0..100 % is dropped
    # with a flag; the primary SpO2 98 % and pulse 72 of the same notification are kept (the
    # whole notification was rejected, so a device marking "none" with 127 gave no reading).
    rec = decode_cont(h(payload))
    assert isinstance(rec, PulseOx), rec
    assert (rec.spo2_pct, rec.pulse_bpm, rec.valid) == (98, 72, True)
    assert (rec.spo2_fast_pct, rec.spo2_slow_pct, list(rec.status)) == (fast, slow, flags)


def test_plx_features() -> None:
    rec = decode_plx_features(h("03 00 00 E0 00 A8 00"))
    assert not isinstance(rec, Reject)
    assert rec.supported == ("measurement_status", "device_sensor_status")
    assert rec.measurement_status_support == ("measurement_unavailable", "questionable", "invalid")
    assert rec.device_status_support == (
        "sensor_unconnected",
        "sensor_displaced",
        "sensor_disconnected",
    )
    assert isinstance(decode_plx_features(h("03 00 00 E0")), Reject)
    assert isinstance(decode_plx_features(h("00 00 00")), Reject)


def test_range_contract_on_good_vectors() -> None:
    for payload in ("16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00",):
        rec = decode_bp(h(payload))
        assert not isinstance(rec, Reject) and range_violations(rec) == []
    bad = BloodPressure(400.0, None, None, None, None, None, (), True)
    assert range_violations(bad) == ["sys_mmHg=400.0 outside 0..300"]


# --------------------------------------------------------------------- monitord decode CLI
@pytest.mark.parametrize(
    ("profile", "payload", "fields"),
    [
        (
            "ble-bpm",
            "16 7C 00 56 00 61 00 E8 07 06 0F 11 11 1B 33 00 00 00",
            {
                "sys_mmHg": 124.0,
                "dia_mmHg": 86.0,
                "map_mmHg": 97.0,
                "pulse_bpm": 51.0,
                "valid": True,
            },
        ),
        ("ble-icp", "00 96 00 FF 07 FF 07", {"cuff_mmHg": 150.0}),
        ("ble-hrm", "16 48 54 01 EC 02", {"hr_bpm": 72, "rr_ms": [332.0, 730.5], "contact": True}),
        ("ble-plx-spot", "00 62 00 48 00", {"spo2_pct": 98.0, "pulse_bpm": 72.0}),
        (
            "ble-plx-cont",
            "08 62 00 48 00 00 80 00",
            {"spo2_pct": 98.0, "contact": False, "valid": False},
        ),
    ],
)
def test_cli_decode(
    profile: str, payload: str, fields: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["decode", "--profile", profile, payload]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {k: rec[k] for k in fields} == fields


def test_cli_decode_reject_exit_65(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["decode", "--profile", "ble-hrm", "16 48 54 01 EC"]) == 65
    out = capsys.readouterr()
    assert json.loads(out.out)["rejected"] == "bad_length"
    assert "RR" in out.err
