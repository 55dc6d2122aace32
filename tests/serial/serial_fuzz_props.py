"""Properties shared by the hypothesis tests (tests/serial) and the long run
(bench/fuzz_serial.py): every frame decoder and stream framer, any bytes, any chunking."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from monitord.drivers import intellivue_frames as F
from monitord.drivers import masimo_ascii as M
from monitord.drivers import nonin2 as N
from monitord.drivers.base import Measurement, Reject
from monitord.drivers.ble_gatt import PULSE_RANGE_bpm
from monitord.drivers.intellivue import decode_frame as ivue_decode_frame


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


user_data = st.binary(max_size=200)
noise = st.binary(max_size=60)
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=20)


def ivue_stream_recovers(frames: list[bytes], noises: list[bytes], cut: list[int]) -> None:
    """Valid frames embedded in arbitrary noise are all recovered, in order, and nothing
    else comes out as a message (no frame invented); every other item is a Reject."""
    stream = b"".join(n + F.frame(u) for n, u in zip(noises, frames, strict=False))
    stream += noises[len(frames)] if len(noises) > len(frames) else b""
    reader = F.FrameReader()
    out: list[bytes | Reject] = []
    for chunk in chunked(stream, cut):
        out += reader.feed(chunk)
    msgs = [o for o in out if isinstance(o, bytes)]
    assert all(isinstance(o, bytes | Reject) for o in out)
    assert msgs == frames


def ivue_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    reader = F.FrameReader(max_user_data=64)
    for chunk in chunked(data, cut):
        for item in reader.feed(chunk):
            if isinstance(item, bytes):
                assert len(item) <= 64
                F.decode_message(item)
    F.decode_message(data)
    ivue_decode_frame(data)


def nonin_stream_recovers(
    packets: list[tuple[int, int]], noises: list[bytes], cut: list[int]
) -> None:
    """Nonin frames have no escaping, so noise is drawn without the 0x01 start byte (a 0x01
    in noise could alias a frame start; that case is covered by `nonin_arbitrary_bytes`)."""
    stream = b"".join(
        n.replace(b"\x01", b"") + N.packet_frames(hr, spo2)
        for n, (hr, spo2) in zip(noises, packets, strict=False)
    )
    reader, asm = N.FrameReader(), N.PacketAssembler()
    recs = []
    for chunk in chunked(stream, cut):
        for item in reader.feed(chunk):
            if isinstance(item, Reject):
                asm.reset()
            elif isinstance(rec := asm.add(item), Measurement):
                recs.append((rec.values["pulse_bpm"], rec.values["spo2_pct"]))
    # a pulse outside the decoders' sanity range (511 "missing" included) is no pulse
    lo, hi = PULSE_RANGE_bpm
    assert recs == [(hr if lo <= hr <= hi else None, s if s != 127 else None) for hr, s in packets]


def nonin_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    reader, asm = N.FrameReader(), N.PacketAssembler()
    for chunk in chunked(data, cut):
        for item in reader.feed(chunk):
            if isinstance(item, N.Frame):
                rec = asm.add(item)
                if not isinstance(rec, Measurement):
                    continue
                spo2, pulse = rec.values["spo2_pct"], rec.values["pulse_bpm"]
                assert spo2 is None or 0 <= spo2 <= 100
                assert pulse is None or PULSE_RANGE_bpm[0] <= pulse <= PULSE_RANGE_bpm[1]
    assert len(reader._buf) < N.FRAME_LEN
    N.decode_hex_frames(data)
    N.decode_frame(data[:5])


def masimo_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    framer = M.LineFramer()
    for chunk in chunked(data, cut):
        for item in framer.feed(chunk):
            if isinstance(item, bytes):
                assert len(item) <= M.MAX_LINE
                M.decode_line(item)
    M.decode_line(data)
