"""InfluxDB line protocol: build and validate before sending (design.md section 7).

    measurement[,tag=value...] field=value[,field=value...] timestamp_ns

Escaping (InfluxDB line protocol reference): measurement escapes `,` and space; tag keys,
tag values and field keys escape `,`, `=` and space; string field values are in double
quotes with `"` and `\\` escaped. A newline can appear nowhere: it would end the line and
turn one point into garbage the server rejects, so it is a validation error here.

Numbers are always written as floats (`72.0`, never the integer form `72i`): a field that
once arrived as an integer and once as a float would be a field type conflict (HTTP 400)
for the whole shard. NaN and infinities have no line-protocol form: such values are
omitted (the reading keeps `valid=false` from the device anyway).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

FieldValue = float | int | bool | str


class LineProtocolError(ValueError):
    """A point that cannot be written; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str
    tags: Mapping[str, str | None]
    fields: Mapping[str, FieldValue | None]
    time_ns: int


def _check_text(what: str, s: str) -> None:
    if not s:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in s or "\r" in s:
        raise LineProtocolError(f"{what} {s[:40]!r} contains a newline")
    if s.endswith("\\"):
        # A trailing backslash would escape our separator.
        raise LineProtocolError(f"{what} {s[:40]!r} ends with a backslash")


def _esc_measurement(s: str) -> str:
    return s.replace(",", r"\,").replace(" ", r"\ ")


def _esc_key(s: str) -> str:
    return s.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _field_value(key: str, v: FieldValue) -> str | None:
    if isinstance(v, bool):  # before int: bool is an int subclass
        return "true" if v else "false"
    if isinstance(v, int | float):
        f = float(v)
        if not math.isfinite(f):
            return None
        return repr(f)
    if isinstance(v, str):
        if "\n" in v or "\r" in v:
            # Newlines inside a quoted string are legal for InfluxDB 2 but not for every
            # v1 parser; an escaped form keeps the text readable and the line whole.
            v = v.replace("\r", "\\r").replace("\n", "\\n")
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise LineProtocolError(f"field {key!r} has unsupported type {type(v).__name__}")


@functools.lru_cache(maxsize=4096)
def series_key(measurement: str, tags: tuple[tuple[str, str | None], ...]) -> str:
    """`measurement,tag=value...` validated and escaped, cached per series: a chair's
    device streams thousands of points with the same tags. `tags` sorted by key."""
    _check_text("measurement", measurement)
    parts = [_esc_measurement(measurement)]
    for k, v in tags:  # sorted tags: the form InfluxDB stores, cheapest to index
        if v is None or v == "":
            continue  # InfluxDB has no empty tag values; absent is the same thing
        _check_text("tag key", k)
        _check_text(f"tag {k!r}", v)
        parts.append(f",{_esc_key(k)}={_esc_key(v)}")
    return "".join(parts)


@functools.lru_cache(maxsize=1024)
def _field_key(k: str) -> str:
    _check_text("field key", k)
    return _esc_key(k)


def encode_fields(
    series: str, measurement: str, fields: Mapping[str, FieldValue | None], time_ns: int
) -> str:
    """One line from a `series_key` result, fields and a timestamp."""
    out: list[str] = []
    for k, fv in fields.items():
        if fv is None:
            continue
        key = _field_key(k)
        enc = _field_value(k, fv)
        if enc is not None:
            out.append(f"{key}={enc}")
    if not out:
        raise LineProtocolError(f"{measurement}: no field with a value")
    if not (_INT64_MIN <= time_ns <= _INT64_MAX):
        raise LineProtocolError(f"timestamp {time_ns} out of int64 range")
    return f"{series} {','.join(out)} {time_ns}"


def encode(p: Point) -> str:
    """One validated line (no trailing newline). Raises LineProtocolError."""
    series = series_key(p.measurement, tuple(sorted(p.tags.items())))
    return encode_fields(series, p.measurement, p.fields, p.time_ns)
