"""Every single-byte error in every real Masimo line of tests/serial/test_masimo_captures.py
(each ASCII byte, and two standing for the bytes above it, inserted at each place or
put in place of each byte; each byte deleted), read after one or two sound lines of the
same monitor (a connection is in the same state after either) as the daemon reads them
(`ConnectionLines`, the judgement MasimoProtocol.run makes line after line): no line may
read as anything but the original's reading (SpO2, pulse, contact, valid, the ALARM and
EXC flags) or a reject.

The one error the driver cannot know: a digit of SPO2=, BPM=, ALARM= or EXC= replaced by
another digit the field may hold (`098` -> `097`, `0038` -> `0039`): ASCII 1 carries no
checksum, and the line keeps its layout. Those are counted, not refused.

No public capture shows a line with a byte error: the tests put the errors into real
lines. Before, of the 601,974 errors of the 13 lines (besides the 3,696 replacements no
reader can know, 3,348 of which change the reading), 4,595 read otherwise than the line,
all in the three lines whose ALARM is not 0 (k-cross's Rad-8, the Rad-8 sensor off, the
Root sensor off): an `ALARM=` whose key lost or garbled a byte (`ALRM=0038`,
`AL\\x00ARM=`) read as no alarm at all (the monitor's BPM low alarm, sounding and
silenced, gone), and a byte 0x1c-0x1f inside the value (`ALARM=00\\x1c8`: a space to the
decoder, part of the value to the width check) read `ALARM=00`, unchecked.
"""

from __future__ import annotations

import copy
import re
import string
from collections import Counter
from collections.abc import Iterator

import pytest
from test_masimo_captures import CAPTURES

from monitord.drivers.base import Measurement, Reject
from monitord.drivers.masimo_ascii import ConnectionLines, LineFramer

Reading = tuple[float | None, float | None, bool | None, bool, tuple[str, ...]]

# the digits of each read field, as every real line prints them (module docstring)
_VALUE = re.compile(rb"(?<!\S)(SPO2|BPM|ALARM|EXC)=([0-9A-Fa-f]+|-+)")
_CAN_HOLD = {
    b"SPO2": string.digits.encode(),
    b"BPM": string.digits.encode(),
    b"ALARM": string.hexdigits.encode(),
    b"EXC": string.hexdigits.encode(),
}


def _reading(m: Measurement) -> Reading:
    flags = tuple(f for f in m.flags if f != "bad_device_clock")  # the monitor's clock
    return (m.values["spo2_pct"], m.values["pulse_bpm"], m.contact, m.valid, flags)


def _unknowable(line: bytes) -> dict[int, bytes]:
    """Places where a replaced byte leaves a sound line of other numbers: what may go there."""
    where: dict[int, bytes] = {}
    for m in _VALUE.finditer(line):
        for i in range(m.start(2), m.end(2)):
            where[i] = _CAN_HOLD[m.group(1)]
    return where


# Every ASCII byte; of the bytes above 0x7f the first and the last: the reader refuses a
# line holding any of them, wherever (decode_sized: "non-ASCII bytes in line"), and the
# framer splits only at CR and LF (test_any_byte_above_ascii_is_refused_anywhere).
BYTES = [*range(128), 0x80, 0xFF]


def _errors(line: bytes) -> Iterator[tuple[str, bytes]]:
    for i in range(len(line)):
        yield "deleted", line[:i] + line[i + 1 :]
    for i in range(len(line) + 1):
        for b in BYTES:
            yield "inserted", line[:i] + bytes([b]) + line[i:]
    unknowable = _unknowable(line)
    for i in range(len(line)):
        for b in BYTES:
            if b != line[i] and b not in unknowable.get(i, b""):
                yield "replaced", line[:i] + bytes([b]) + line[i + 1 :]


def _primed(before: list[bytes]) -> ConnectionLines:
    """A connection that has read `before`, each a reading."""
    lines = ConnectionLines()
    for sound in before:
        assert isinstance(lines.take(sound), Measurement)
    return lines


def _state(lines: ConnectionLines) -> dict[str, object]:
    """What a connection carries from line to line (its judges' too)."""
    return {k: vars(v) if hasattr(v, "__dict__") else v for k, v in vars(lines).items()}


def _read(primed: ConnectionLines, line: bytes) -> list[Measurement | Reject]:
    """What the daemon gives for `line` (its CR LF too) on the connection `primed`."""
    lines = copy.copy(primed)  # its judges too (a deepcopy took most of the test's time)
    lines.alarm, lines.no_exc = copy.copy(primed.alarm), copy.copy(primed.no_exc)
    return [lines.take(item) for item in LineFramer().feed(line + b"\r\n")]


@pytest.mark.parametrize(("source", "text"), [(s, t) for s, t, _ in CAPTURES])
def test_no_single_byte_error_reads_otherwise(source: str, text: str) -> None:
    line = text.encode("ascii")
    after_one = _primed([line])
    # after one sound line or two, a connection is in the same state: one run holds both
    assert _state(after_one) == _state(_primed([line, line]))
    (whole,) = _read(after_one, line)
    assert isinstance(whole, Measurement), whole
    counts: Counter[str] = Counter()
    wrong: list[tuple[str, bytes, Reading]] = []
    for how, bad in _errors(line):
        for got in _read(after_one, bad):
            if isinstance(got, Reject):
                counts["refused"] += 1
            elif _reading(got) == _reading(whole):
                counts["read the same"] += 1
            else:
                wrong.append((how, bad, _reading(got)))
    assert not wrong, (source, len(wrong), wrong[:5])
    assert counts["refused"] > 0 and counts["read the same"] > 0, counts


@pytest.mark.parametrize(("source", "text"), [(s, t) for s, t, _ in CAPTURES])
def test_a_digit_replaced_within_its_field_is_what_the_driver_cannot_know(
    source: str, text: str
) -> None:
    """The replacements left out above: each reads (no checksum, the same layout); the
    count of those that change the reading is what no reader of ASCII 1 can refuse."""
    line = text.encode("ascii")
    after_one = _primed([line])
    (whole,) = _read(after_one, line)
    assert isinstance(whole, Measurement)
    changed = 0
    for i, may in _unknowable(line).items():
        for b in may:
            if b != line[i]:
                got = _read(after_one, line[:i] + bytes([b]) + line[i + 1 :])
                assert len(got) == 1, got
                (m,) = got
                if isinstance(m, Measurement) and _reading(m) != _reading(whole):
                    changed += 1
    assert changed > 0, source


def test_any_byte_above_ascii_is_refused_anywhere() -> None:
    """Why two of the 128 bytes above 0x7f stand for all of them above."""
    line = CAPTURES[3][1].encode("ascii")  # k-cross's Rad-8 line, its alarm sounding
    after_one = _primed([line])
    for b in range(0x80, 0x100):
        for i in (0, line.index(b"ALARM="), len(line)):
            for bad in (line[:i] + bytes([b]) + line[i:], line[:i] + bytes([b]) + line[i + 1 :]):
                (got,) = _read(after_one, bad)
                assert isinstance(got, Reject) and "non-ASCII" in got.detail, (b, i, got)
