"""Hypothesis fuzzing of every BLE decoder (bench/fuzz_ble.py runs >= 100,000 payloads).

Promise checked: no exception escapes, and every result is a typed Reject or a record
whose numbers all lie inside the sanity ranges.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitord.drivers import ble_bpm, ble_hrm, ble_plx
from monitord.drivers.base import Reject
from monitord.drivers.ble_fuzz_targets import SHAPES, TARGETS, check

NAMES = sorted(TARGETS)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=40))
def test_random_bytes(name: str, data: bytes) -> None:
    assert check(name, data) is None


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=400, deadline=None)
@given(flags=st.integers(0, 255), tail=st.data())
def test_flag_shaped_payloads(name: str, flags: int, tail: st.DataObject) -> None:
    """Right-ish lengths with every flag byte: reaches the field decoding, not just the
    length checks."""
    n = tail.draw(st.integers(0, SHAPES[name]))
    words = tail.draw(
        st.lists(
            st.sampled_from([0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801, 0x0078, 0xF0A0, 0x0FFF])
            | st.integers(0, 0xFFFF),
            min_size=n // 2 + 1,
            max_size=n // 2 + 1,
        )
    )
    body = b"".join(w.to_bytes(2, "little") for w in words)[:n]
    assert check(name, bytes([flags]) + body) is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=30))
def test_sample_adapters_never_raise(data: bytes) -> None:
    for fn in (ble_bpm.bp_sample, ble_hrm.hrm_sample, ble_plx.spot_sample, ble_plx.cont_sample):
        out = fn(data, frozenset())
        assert out is None or isinstance(out, Reject) or out.kind is not None
    icp = ble_bpm.icp_sample(data, frozenset())
    assert icp is None or isinstance(icp, Reject)
