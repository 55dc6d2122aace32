"""Hypothesis fuzzing of every serial frame decoder and stream framer (acceptance 2).
bench/fuzz_serial.py runs the same properties with far more examples."""

from __future__ import annotations

import serial_fuzz_props as P
from hypothesis import given, settings
from hypothesis import strategies as st

FAST = settings(max_examples=300, deadline=None)


@FAST
@given(st.lists(P.user_data, max_size=6), st.lists(P.noise, min_size=7, max_size=7), P.cuts)
def test_intellivue_frames_recovered_from_noise(
    frames: list[bytes], noises: list[bytes], cut: list[int]
) -> None:
    P.ivue_stream_recovers(frames, noises, cut)


@FAST
@given(st.binary(max_size=600), P.cuts)
def test_intellivue_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    P.ivue_arbitrary_bytes(data, cut)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 511), st.one_of(st.integers(0, 100), st.just(127))), max_size=5
    ),
    st.lists(P.noise, min_size=5, max_size=5),
    P.cuts,
)
def test_nonin_packets_recovered_from_noise(
    packets: list[tuple[int, int]], noises: list[bytes], cut: list[int]
) -> None:
    P.nonin_stream_recovers(packets, noises, cut)


@FAST
@given(st.binary(max_size=600), P.cuts)
def test_nonin_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    P.nonin_arbitrary_bytes(data, cut)


@FAST
@given(st.binary(max_size=600), P.cuts)
def test_masimo_arbitrary_bytes(data: bytes, cut: list[int]) -> None:
    P.masimo_arbitrary_bytes(data, cut)
