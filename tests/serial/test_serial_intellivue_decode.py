"""IntelliVue framing and decoding: spec-built frames, escaping edge cases, FCS both ways.

Provenance of reference bytes: the Philips "Data Export Interface Programming Guide"
(4535 642 59271) message examples "Association Request", "MDS Create Event Result" and
"Extended Poll Request"; the same bytes are reproduced in several public implementations.
No public capture of a real monitor's poll *result* with NIBP was available, so poll
results below are hand-built from the Guide's structure definitions with struct.pack,
independently of the codec under test.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from monitord.drivers import intellivue_frames as F
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.intellivue import decode_frame

GUIDE_MDS_CREATE_RESULT = bytes.fromhex(
    "e100 0002 0002 0014 0001 0001 000e 0021 0000 0000 000abd00 0d06 0000".replace(" ", "")
)
GUIDE_EXT_POLL_REQUEST = bytes.fromhex(
    "e100 0002 0001 0020 0001 0007 001a 0021 0000 0000 00000000 f13b 000c 0001 0001 0006"
    " 0000 0000 0000".replace(" ", "")
)
GUIDE_AARQ_PREFIX = bytes.fromhex(
    "0dec 05081301001601028000140200 02 c1dc 3180a0808001010000a280a003000001a48030800201"
    "010604520100013080060251010000000030800201020 60c2a8648ce1402010000000101".replace(" ", "")
)
GUIDE_RLRQ = bytes.fromhex("0918c11661803080020101a08062808001000000000000000000")


def test_fcs_rfc1662_check_value_and_good_residue() -> None:
    # CRC-16/X-25 (the PPP FCS) check value of "123456789" is 0x906E.
    assert F.fcs16(b"123456789") ^ 0xFFFF == 0x906E
    body = b"\x11\x01\x00\x03abc"
    # receiver side: FCS over data + transmitted FCS gives the good residue
    assert F.fcs16(body + F.fcs_bytes(body)) == F.FCS_GOOD
    bad = F.fcs_bytes(body)
    assert F.fcs16(body + bytes((bad[0] ^ 0x80, bad[1]))) != F.FCS_GOOD


def test_guide_messages_byte_exact() -> None:
    assert F.mds_create_result(1, current_time=0x000ABD00) == GUIDE_MDS_CREATE_RESULT
    assert F.poll_request(1, 1, attr_group=0) == GUIDE_EXT_POLL_REQUEST
    assert F.association_request().startswith(GUIDE_AARQ_PREFIX)
    assert len(F.association_request()) == 2 + 0xEC
    assert F.release_request() == GUIDE_RLRQ


def test_system_types_in_the_association_messages() -> None:
    """MDSEUserInfoStd's system type: SYST_CLIENT 0x80000000 in our association request,
    SYST_SERVER 0x00800000 in the (simulated) monitor's result (shared/protocols.md; the
    same constants in independent readers: OpenICE's Java `SYST_SERVER = 0x00800000L`,
    VSCapture, Go and Python IntelliVue clients), after the protocol and nomenclature
    versions and the functional units, before the cold start mode."""
    head = struct.pack(">III", 0x80000000, 0x40000000, 0)
    assert head + struct.pack(">II", 0x80000000, 0x20000000) in F.association_request()
    assert head + struct.pack(">II", 0x00800000, 0x20000000) in F.association_result()


def _hand_frame(user: bytes) -> bytes:
    body = bytes((0x11, 0x01)) + struct.pack(">H", len(user)) + user
    fcs = F.fcs16(body) ^ 0xFFFF
    raw = body + struct.pack("<H", fcs)
    esc = bytearray()
    for b in raw:
        esc += bytes((0x7D, b ^ 0x20)) if b in (0xC0, 0xC1, 0x7D) else bytes((b,))
    return b"\xc0" + bytes(esc) + b"\xc1"


def _nu(pid: int, state: int, unit: int, exp: int, mant: int) -> bytes:
    return struct.pack(">HHHI", pid, state, unit, ((exp & 0xFF) << 24) | (mant & 0xFFFFFF))


def _ava(aid: int, value: bytes) -> bytes:
    return struct.pack(">HH", aid, len(value)) + value


def _obs(handle: int, *avas: bytes) -> bytes:
    body = b"".join(avas)
    return struct.pack(">HHH", handle, len(avas), len(body)) + body


def _poll_result(observations: list[bytes], abs_time: bytes) -> bytes:
    obs = b"".join(observations)
    ctx = struct.pack(">HHH", 0, len(observations), len(obs)) + obs
    reply = (
        struct.pack(">HHI", 7, 1, 0)
        + abs_time
        + struct.pack(">HHH", 1, 6, 0x0803)
        + struct.pack(">HH", 1, len(ctx))
        + ctx
    )
    res = struct.pack(">HHH", 0x21, 0, 0) + struct.pack(">HH", 0xF13B, len(reply)) + reply
    ro = struct.pack(">HHH", 9, 7, len(res)) + res
    return struct.pack(">HHHH", 0xE100, 2, 2, len(ro)) + ro


T_NIBP = bytes.fromhex("2024061517172700")  # 2024-06-15 17:17:27.00, BCD
T_POLL = bytes.fromhex("2024061517200500")
NIBP_CMPD = _ava(
    0x094B,
    struct.pack(">HH", 3, 30)
    + _nu(0x4A05, 0, 0x0F20, 0, 124)
    + _nu(0x4A06, 0, 0x0F20, 0, 86)
    + _nu(0x4A07, 0, 0x0F20, 0, 97),
)

CASES = [
    (
        "nibp compound + pulse, own time stamp",
        [
            _obs(1, NIBP_CMPD, _ava(0x0990, T_NIBP)),
            _obs(2, _ava(0x0950, _nu(0xF0E5, 0, 0x0AA0, 0, 51)), _ava(0x0990, T_NIBP)),
        ],
        [
            {
                "kind": "bp",
                "sys_mmHg": 124.0,
                "dia_mmHg": 86.0,
                "map_mmHg": 97.0,
                "pulse_bpm": 51.0,
                "measured_at": "2024-06-15T17:17:27+00:00",
                "status": [],
                "contact": None,
                "valid": True,
            }
        ],
    ),
    (
        "nibp in kPa converted; HR demo data not valid; SpO2 questionable, pulse with decimals",
        [
            _obs(
                1,
                _ava(
                    0x094B,
                    struct.pack(">HH", 2, 20)
                    + _nu(0x4A05, 0, 0x0F03, -1, 160)  # 16.0 kPa = 120 mmHg
                    + _nu(0x4A06, 0, 0x0F03, -1, 107),  # 10.7 kPa = 80 mmHg
                ),
            ),
            _obs(3, _ava(0x0950, _nu(0x4182, 0x0400, 0x0AA0, 0, 60))),
            _obs(4, _ava(0x0950, _nu(0x4BB8, 0x4000, 0x0220, 0, 95))),
            _obs(5, _ava(0x0950, _nu(0x4822, 0, 0x0AA0, -1, 725))),
        ],
        [
            {
                "kind": "bp",
                "sys_mmHg": 120,
                "dia_mmHg": 80,
                "map_mmHg": None,
                "pulse_bpm": None,
                # No NIBP stamp of its own: the poll's time is not when the cuff measured
                # (tests/serial/test_intellivue_values.py).
                "measured_at": None,
                "status": [],
                "contact": None,
                "valid": True,
            },
            {
                "kind": "hr",
                "hr_bpm": 60.0,
                "measured_at": "2024-06-15T17:20:05+00:00",
                "status": ["demo_data"],
                "contact": None,
                "valid": False,
            },
            {
                "kind": "spo2",
                "spo2_pct": 95.0,
                "pulse_bpm": 72.5,
                "measured_at": "2024-06-15T17:20:05+00:00",
                "status": ["questionable"],
                "contact": None,
                "valid": False,
            },
        ],
    ),
    (
        "invalid NIBP with NaN values; HR with a pressure unit is nulled",
        [
            _obs(
                1,
                _ava(
                    0x094B,
                    struct.pack(">HH", 2, 20)
                    + _nu(0x4A05, 0x8000, 0x0F20, 0, 0x7FFFFF)
                    + _nu(0x4A06, 0x8000, 0x0F20, 0, 0x7FFFFF),
                ),
            ),
            _obs(3, _ava(0x0950, _nu(0x4182, 0, 0x0F20, 0, 60))),
        ],
        [
            {
                "kind": "bp",
                "sys_mmHg": None,
                "dia_mmHg": None,
                "map_mmHg": None,
                "pulse_bpm": None,
                # no NIBP stamp of its own: no device time (see above)
                "measured_at": None,
                "status": ["invalid", "sys_mmHg_no_value", "dia_mmHg_no_value"],
                "contact": None,
                "valid": False,
            },
            {
                "kind": "hr",
                "hr_bpm": None,
                "measured_at": "2024-06-15T17:20:05+00:00",
                "status": ["unit_0x0f20"],
                "contact": None,
                "valid": False,
            },
        ],
    ),
]


@pytest.mark.parametrize(("name", "observations", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hand_built_poll_results(
    name: str, observations: list[bytes], expected: list[dict[str, object]]
) -> None:
    assert decode_frame(_hand_frame(_poll_result(observations, T_POLL))) == expected


def test_codec_builder_matches_hand_built() -> None:
    t = datetime(2024, 6, 15, 17, 17, 27, tzinfo=UTC)
    obs = F.Observation(
        1,
        (
            F.ObservedValue(0x4A05, 0, 0x0F20, 124.0),
            F.ObservedValue(0x4A06, 0, 0x0F20, 86.0),
            F.ObservedValue(0x4A07, 0, 0x0F20, 97.0),
        ),
        t,
    )
    built = F.poll_result(9, 7, 1, datetime(2024, 6, 15, 17, 20, 5, tzinfo=UTC), [obs])
    assert built == _poll_result([_obs(1, NIBP_CMPD, _ava(0x0990, T_NIBP))], T_POLL)


def test_unset_device_clock_gives_no_time() -> None:
    obs = [_obs(3, _ava(0x0950, _nu(0x4182, 0, 0x0AA0, 0, 60)))]
    recs = decode_frame(_hand_frame(_poll_result(obs, b"\xff" * 8)))
    assert isinstance(recs, list), recs
    (rec,) = recs
    assert rec["measured_at"] is None and rec["valid"] is True


# NaN, NRes, +INF, -INF and the reserved 0x00800001 (shared/protocols.md; IEEE 11073-20601)
@pytest.mark.parametrize("special", [0x7FFFFF, 0x800000, 0x7FFFFE, 0x800002, 0x800001])
def test_float_specials_are_no_value(special: int) -> None:
    assert F.decode_float(special) is None
    assert F.decode_float((0xFE << 24) | special) is None


def test_float_values() -> None:
    assert F.decode_float(0x0000007C) == 124
    assert F.decode_float(0xFF0002D5) == 72.5
    assert F.decode_float(0x00FFFFFF) == -1
    assert F.decode_float(F.encode_float(36.6, 1)) == 36.6


# ------------------------------------------------------------------ escaping edge cases
def _user_with_fcs_needing_escape() -> bytes:
    for i in range(5000):
        user = struct.pack(">H", i)
        body = b"\x11\x01\x00\x02" + user
        if set(F.fcs_bytes(body)) & {0xC0, 0xC1, 0x7D}:
            return user
    raise AssertionError("no such payload")


@pytest.mark.parametrize(
    "user",
    [
        bytes([0xC0, 0xC1, 0x7D]),
        bytes([0x7D, 0x7D, 0x5D, 0xE0, 0xE1]),
        bytes([0xC0]) * 10,
        b"",
        _user_with_fcs_needing_escape(),
        bytes(range(256)),
    ],
    ids=["all-specials", "escape-lookalikes", "run-of-BOF", "empty", "fcs-escaped", "all-bytes"],
)
def test_escaping_round_trip(user: bytes) -> None:
    fr = F.frame(user)
    assert fr[0] == 0xC0 and fr[-1] == 0xC1
    assert not set(fr[1:-1]) & {0xC0, 0xC1}  # transparency: no flags inside
    assert F.unframe(fr) == user
    assert F.unframe(_hand_frame(user)) == user
    assert fr == _hand_frame(user)


def _raw(body: bytes) -> bytes:
    return body + F.fcs_bytes(body)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\xc0\x11\x01\x00\x00\x7d\xc1", RejectReason.BAD_FORMAT),  # ESC EOF = frame abort
        (b"\xc0\x11\x01\xc1", RejectReason.BAD_LENGTH),  # too short
        (
            b"\xc0\x12\x01\x00\x00" + F.fcs_bytes(b"\x12\x01\x00\x00") + b"\xc1",
            RejectReason.UNKNOWN_TYPE,
        ),
        (
            b"\xc0\x11\x01\x00\x05" + F.fcs_bytes(b"\x11\x01\x00\x05") + b"\xc1",
            RejectReason.BAD_LENGTH,
        ),
        (F.frame(b"abc", corrupt_fcs=True), RejectReason.BAD_CHECKSUM),
    ],
    ids=["abort", "short", "header", "length", "fcs"],
)
def test_frame_rejects(wire: bytes, reason: RejectReason) -> None:
    out = F.unframe(wire)
    assert isinstance(out, Reject) and out.reason is reason


def test_stream_split_reads_several_frames_noise_and_oversize() -> None:
    good = [F.frame(F.poll_request(i, i)) for i in range(1, 4)]
    stream = (
        b"noise\xc1\x7d"
        + good[0]
        + good[1]
        + b"\xc0"
        + b"\x00" * (F.MAX_USER_DATA + 20)
        + b"\xc1"  # oversize
        + F.frame(b"x", corrupt_fcs=True)
        + b"\xc0\x11\x01"  # cut short by the next BOF
        + good[2]
    )
    reader = F.FrameReader()
    out: list[bytes | Reject] = []
    for i in range(0, len(stream), 7):  # split reads
        out += reader.feed(stream[i : i + 7])
    msgs = [o for o in out if isinstance(o, bytes)]
    reasons = [o.reason for o in out if isinstance(o, Reject)]
    assert msgs == [F.poll_request(i, i) for i in range(1, 4)]
    assert reasons == [
        RejectReason.NOISE,
        RejectReason.OVERSIZE,
        RejectReason.BAD_CHECKSUM,
        RejectReason.BAD_FORMAT,
    ]


def test_decode_profile_other_messages_and_bad_hex_payloads() -> None:
    assert decode_frame(F.frame(F.mds_create_event(5))) == [
        {"message": "mds_create", "invoke_id": 5}
    ]
    out = decode_frame(F.frame(b"\xe1\x00\x00\x02\x00\x01\xff\xff"))
    assert isinstance(out, Reject) and out.reason is RejectReason.BAD_LENGTH
    out = decode_frame(F.frame(F.poll_result(1, 1, 1, None, [])))
    assert isinstance(out, Reject) and out.reason is RejectReason.NO_VALUE
