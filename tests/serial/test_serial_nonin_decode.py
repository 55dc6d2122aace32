"""Nonin data format #2: spec-built frames (layout per the Nonin OEM "Data Format #2"
description; no public capture was available), checksum, sync and the decode profile."""

from __future__ import annotations

import pytest

from drivers import nonin2 as N
from drivers.base import Reject, RejectReason


def test_frame_layout_and_checksum() -> None:
    # status 0x81 (bit7 + SYNC), pleth 0x40, HR MSB 0 -> checksum 0x01+0x81+0x40+0x00 = 0xC2
    assert N.make_frame(0x01, 0x40, 0x00) == bytes.fromhex("01814000c2")
    f = N.decode_frame(bytes.fromhex("01814000c2"))
    assert isinstance(f, N.Frame) and f.sync and f.pleth == 0x40
    bad = N.decode_frame(bytes.fromhex("01814000c3"))
    assert isinstance(bad, Reject) and bad.reason is RejectReason.BAD_CHECKSUM


CASES = [
    (
        "hr 72 spo2 97",
        bytes.fromhex("018100008201800048c901800061e2"),
        {"spo2_pct": 97, "pulse_bpm": 72, "status": [], "contact": True, "valid": True},
    ),
    # HR 300 = 0b1_0010_1100: MSB bits 2, LSB 0x2C
    (
        "hr 300 (9 bits)",
        bytes.fromhex("01810002840180002cad0180005fe0"),
        {"spo2_pct": 95, "pulse_bpm": 300, "status": [], "contact": True, "valid": True},
    ),
    (
        "missing values (511/127)",
        bytes.fromhex("01810003850180007f000180007f00"),
        {"spo2_pct": None, "pulse_bpm": None, "status": [], "contact": True, "valid": False},
    ),
    (
        "sensor disconnected",
        bytes.fromhex("01c10003c501c0007f4001c0007f40"),
        {
            "spo2_pct": None,
            "pulse_bpm": None,
            "status": ["probe_off"],
            "contact": False,
            "valid": False,
        },
    ),
    (
        "artifact",
        bytes.fromhex("01a10000a201a00048e901a0006102"),
        {"spo2_pct": 97, "pulse_bpm": 72, "status": ["artifact"], "contact": True, "valid": False},
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_packet_table(name: str, data: bytes, expected: dict[str, object]) -> None:
    out = N.decode_hex_frames(data)
    assert out == [{**expected, "measured_at": None}]


def test_builder_agrees_with_table() -> None:
    assert N.packet_frames(72, 97)[:15] == CASES[0][1]
    assert N.packet_frames(300, 95)[:15] == CASES[1][1]


def test_profile_rejects() -> None:
    out = N.decode_hex_frames(bytes.fromhex("01814000"))
    assert isinstance(out, Reject) and out.reason is RejectReason.BAD_LENGTH
    out = N.decode_hex_frames(bytes.fromhex("0181400000"))
    assert isinstance(out, Reject) and out.reason is RejectReason.BAD_CHECKSUM
    # frames without a packet start are shown, not invented into a reading
    out = N.decode_hex_frames(bytes.fromhex("01800048c9"))
    assert out == [{"frame": 1, "sync": False, "pleth": 0, "data": 0x48, "status": []}]


def test_stream_resync_after_noise_and_bad_checksum() -> None:
    good = N.packet_frames(72, 97)
    stream = b"\xff\x00\x13" + good[:15] + b"\x01\x80\x00\x00\x00" + good
    reader, asm = N.FrameReader(), N.PacketAssembler()
    recs, reasons = [], []
    for i in range(0, len(stream), 3):
        for item in reader.feed(stream[i : i + 3]):
            if isinstance(item, Reject):
                reasons.append(item.reason)
                asm.reset()
            elif (rec := asm.add(item)) is not None:
                recs.append(rec)
    assert [r["pulse_bpm"] for r in recs] == [72, 72]
    assert reasons == [RejectReason.NOISE, RejectReason.BAD_CHECKSUM]
