"""IEEE 11073 SFLOAT/FLOAT vectors (values from IEEE 11073-20601 and protocols.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitord.drivers.sfloat import (
    Special,
    decode_float32,
    decode_sfloat,
    encode_float32,
    encode_sfloat,
    float32_be,
    sfloat_be,
    sfloat_le,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x0002, 2.0),
        (0xF014, 2.0),  # exponent -1, mantissa 20
        (0xE0C8, 2.0),  # exponent -2, mantissa 200
        (0x0078, 120.0),
        (0xF4D2, 123.4),  # exponent -1, mantissa 1234: exact decimal, no float noise
        (0x0FFF, -1.0),  # mantissa is two's complement
        (0x1001, 10.0),  # exponent +1
        (0x8001, 1e-8),  # exponent -8 (smallest)
        (0x7001, 1e7),  # exponent +7 (largest)
        (0x07FD, 2045.0),  # largest ordinary mantissa
        (0x0803, -2045.0),
        (0x17FF, 20470.0),  # 0x7FF is NaN only with exponent 0
    ],
)
def test_sfloat_numbers(raw: int, expected: float) -> None:
    assert decode_sfloat(raw) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x07FF, Special.NAN),
        (0x0800, Special.NRES),
        (0x07FE, Special.POS_INF),
        (0x0802, Special.NEG_INF),
        (0x0801, Special.RESERVED),
    ],
)
def test_sfloat_specials(raw: int, special: Special) -> None:
    assert decode_sfloat(raw) is special


def test_sfloat_byte_order() -> None:
    assert sfloat_le(bytes([0x7C, 0x00]), 0) == 124.0
    assert sfloat_be(bytes([0x00, 0x7C]), 0) == 124.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x00000064, 100.0),
        (0xFF0003E8, 100.0),  # exponent -1, mantissa 1000
        (0xFE002617, 97.51),  # exponent -2, mantissa 9751
        (0x00FFFFFF, -1.0),
        (0x02000003, 300.0),
    ],
)
def test_float32_numbers(raw: int, expected: float) -> None:
    assert decode_float32(raw) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("raw", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POS_INF),
        (0x00800002, Special.NEG_INF),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float32_specials(raw: int, special: Special) -> None:
    assert decode_float32(raw) is special
    assert float32_be(raw.to_bytes(4, "big"), 0) is special


@given(st.integers(-2045, 2045), st.integers(0, 3))
def test_sfloat_roundtrip(mantissa: int, decimals: int) -> None:
    value = mantissa / 10**decimals
    decoded = decode_sfloat(encode_sfloat(value, decimals))
    assert isinstance(decoded, float) and math.isclose(decoded, value, rel_tol=1e-12)


@given(st.integers(-(2**23) + 3, 2**23 - 3), st.integers(0, 6))
def test_float32_roundtrip(mantissa: int, decimals: int) -> None:
    value = mantissa / 10**decimals
    decoded = decode_float32(encode_float32(value, decimals))
    assert isinstance(decoded, float) and math.isclose(decoded, value, rel_tol=1e-12)


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        encode_sfloat(3000.0)
    assert encode_sfloat(None) == 0x07FF
    assert encode_float32(None) == 0x007FFFFF


@given(st.integers(0, 0xFFFF))
def test_sfloat_total(raw: int) -> None:
    out = decode_sfloat(raw)
    assert isinstance(out, Special) or math.isfinite(out)


@pytest.mark.parametrize("mantissa", [-2046, -2047, -2048, 2046, 2047])
def test_encode_never_sends_a_special_for_a_number(mantissa: int) -> None:
    """0x0802 is -INF, 0x0801 reserved, 0x0800 NRes, 0x07FE +INF, 0x07FF NaN: a number at
    those mantissas is refused (before, -2046 went out as -INF)."""
    with pytest.raises(ValueError, match="does not fit"):
        encode_sfloat(mantissa, 0)
