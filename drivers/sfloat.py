"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical number formats.

Wire layout (value as an unsigned integer; BLE sends it little-endian, IntelliVue
big-endian, so byte order is the caller's business):

    SFLOAT  15      12 11                         0
            +---------+---------------------------+
            | exp (4) |      mantissa (12)        |   value = mantissa * 10**exp
            +---------+---------------------------+   both two's complement

    FLOAT   31            24 23                                    0
            +---------------+--------------------------------------+
            |   exp (8)     |             mantissa (24)            |
            +---------------+--------------------------------------+

Special values (exponent 0, mantissa at the edges of its range) mean "no number":

    SFLOAT  0x07FF NaN   0x0800 NRes   0x07FE +INF   0x0802 -INF   0x0801 reserved
    FLOAT   0x007FFFFF NaN  0x00800000 NRes  0x007FFFFE +INF  0x00800002 -INF
            0x00800001 reserved

`0xF014` (exp -1, mantissa 20) = 2.0. Negative exponents divide by an exact power of ten
so that 0xF4D2 comes out as 123.4, not 123.40000000000001.
"""

from __future__ import annotations

import enum
import math


class Special(enum.StrEnum):
    """An SFLOAT/FLOAT that carries no number. Every one of them means "no value"."""

    NAN = "nan"
    NRES = "nres"  # not at this resolution
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"


_SFLOAT_SPECIAL = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POS_INF,
    0x0802: Special.NEG_INF,
    0x0801: Special.RESERVED,
}
_FLOAT_SPECIAL = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POS_INF,
    0x00800002: Special.NEG_INF,
    0x00800001: Special.RESERVED,
}

SFLOAT_NAN = 0x07FF
SFLOAT_NRES = 0x0800
SFLOAT_POS_INF = 0x07FE
SFLOAT_NEG_INF = 0x0802


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    divisor: int = 10 ** (-exponent)
    return mantissa / divisor


def decode_sfloat(raw: int) -> float | Special:
    """16-bit SFLOAT (as an unsigned int 0..0xFFFF) -> number or `Special`."""
    raw &= 0xFFFF
    special = _SFLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    return _scale(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def decode_float32(raw: int) -> float | Special:
    """32-bit FLOAT (as an unsigned int) -> number or `Special`."""
    raw &= 0xFFFFFFFF
    special = _FLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    return _scale(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))


def sfloat_le(data: bytes, offset: int) -> float | Special:
    """The SFLOAT at `data[offset:offset+2]`, little-endian (BLE). Caller checks length."""
    return decode_sfloat(data[offset] | data[offset + 1] << 8)


def sfloat_be(data: bytes, offset: int) -> float | Special:
    """The SFLOAT at `data[offset:offset+2]`, big-endian (quirky devices)."""
    return decode_sfloat(data[offset] << 8 | data[offset + 1])


def float32_be(data: bytes, offset: int) -> float | Special:
    """The FLOAT at `data[offset:offset+4]`, big-endian (IntelliVue)."""
    return decode_float32(int.from_bytes(data[offset : offset + 4], "big"))


def encode_sfloat(value: float | None, decimals: int = 0) -> int:
    """Number -> SFLOAT with `decimals` digits after the point (None -> NaN).

    Used by the simulators; raises ValueError when the value does not fit, because a
    simulator must never send something other than what the scenario asked for.
    """
    if value is None or math.isnan(value):
        return SFLOAT_NAN
    if not 0 <= decimals <= 8:
        raise ValueError(f"decimals {decimals} out of SFLOAT exponent range")
    mantissa = round(value * 10.0**decimals)
    # The edges of the 12-bit range are specials: 0x7FF NaN, 0x800 NRes, 0x7FE +INF,
    # 0x802 -INF, 0x801 reserved; a number must never be sent as one.
    if not -2045 <= mantissa <= 2045:
        raise ValueError(f"{value} does not fit an SFLOAT with {decimals} decimals")
    return int(((-decimals & 0xF) << 12) | (mantissa & 0x0FFF))


def encode_float32(value: float | None, decimals: int = 0) -> int:
    """Number -> FLOAT with `decimals` digits after the point (None -> NaN)."""
    if value is None or math.isnan(value):
        return 0x007FFFFF
    if not 0 <= decimals <= 127:
        raise ValueError(f"decimals {decimals} out of FLOAT exponent range")
    mantissa = round(value * 10.0**decimals)
    if not -(2**23) + 3 <= mantissa <= 2**23 - 3:
        raise ValueError(f"{value} does not fit a FLOAT with {decimals} decimals")
    return int(((-decimals & 0xFF) << 24) | (mantissa & 0xFFFFFF))
