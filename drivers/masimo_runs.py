"""The Masimo ASCII 1 reader's judgements across lines of one connection
(drivers/masimo_ascii.py, "A cut line"): lines without `EXC=` in a row, and a field
printed wider than the connection's (a byte of line noise)."""

from __future__ import annotations

import re

from monitord.drivers.base import Reject, RejectReason

# A key starts a token: a Masimo Root's module fields (`nibpEXC=`, `eegALARM=`, as the
# Root reader DiegoVargasVar/MASIMO `pymasimo/parse.py` names them) end in our keys, and
# matched anywhere `nibpEXC=` was a second `EXC=`: every line a duplicate-field reject.
FIELD = re.compile(r"(?<!\S)([A-Z][A-Z0-9]*)=(\S*)")


class NoExcRun:
    """Lines without `EXC=` in a row, to tell a monitor that never prints it from cut
    lines. Both are refused (without EXC= a sensor off reads as a sound line), but a
    firmware without the field had every line counted as "a cut line", which sent the
    operator after the cable. A cut loses a line's end at a random place; lines that
    all stop at the same place, two in a row, are the monitor's own layout: said as
    such (`bad_format`, a WARNING of its own class). The first stays a cut line.

    The same place is the same fields and the same length: every real line prints its
    fields at fixed widths (module docstring), so a monitor's lines without EXC= are as
    long as each other. Judged by the fields alone, two cable cuts in a row inside the
    same field (`ALARM=00`, then `ALARM=0000`: one pair in seven of the Rad-8 line's
    cuts without EXC=) were said to be "the monitor's layout, not cut lines", sending
    the operator after the monitor's settings while the cable was at fault. Two cuts at
    the same byte (one pair in 60) still read as the layout, for that line only."""

    def __init__(self) -> None:
        self._shape: tuple[int, tuple[str, ...]] | None = None
        self._run = 0

    def reset(self) -> None:
        self._shape, self._run = None, 0

    def judge(self, line: bytes, cut: Reject) -> Reject:
        text = line.lstrip(b"\x00").decode("ascii").strip()  # as decode_sized reads it
        keys = tuple(k for k, _ in FIELD.findall(text))
        shape = (len(text), keys)
        self._run = self._run + 1 if shape == self._shape else 1
        self._shape = shape
        if self._run < 2:
            return cut
        why = (
            f"no EXC= field: {self._run} lines in a row end at {keys[-1]}= (the monitor's "
            "layout, not cut lines); without EXC= a sensor off cannot be told, lines refused"
        )
        return Reject(RejectReason.BAD_FORMAT, why)


_HEX = re.compile(r"[0-9A-Fa-f]+")


def alarm_digits(line: bytes) -> int | None:
    """The digits of a line's `ALARM=` (0: no such field; None: one that is not hex, or a
    line that is not ASCII), read from the fields decode_sized reads. Before, a pattern of
    its own on the bytes took 0x1c-0x1f for part of a value, which str.split and FIELD
    take for a space: `ALARM=00\x1c8` read `ALARM=00` (the BPM low alarm gone), unchecked."""
    try:
        text = line.lstrip(b"\x00").decode("ascii").strip()  # as decode_sized reads it
    except UnicodeDecodeError:
        return None
    value = dict(FIELD.findall(text)).get("ALARM")
    if value is None:
        return 0
    return len(value) if _HEX.fullmatch(value) else None


class FieldWidth:
    """The width a monitor prints a hex field at on one connection (`ALARM=`), judged as
    `EXC=`'s is in ConnectionLines.take: one or more digits wider than any the connection
    has read is a byte too many, one narrower than its width a byte lost (each digit
    before the change then read a place off: another bit field), and no such field at
    all, where the connection's lines carry it, its key garbled (`ALRM=0038`, `AL\x00ARM=`:
    read as no alarm, the monitor's sounding BPM low alarm gone), unless the line before
    was alike (a monitor that prints wider, narrower or without it, read from its second
    line); a width it printed before reads at once when wider."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.digits = 0  # the connection's width (0: none yet, or a monitor without it)
        self.widest = 0
        self.previous: int | None = None

    def judge(self, width: int | None) -> Reject | None:
        """None for a width to read, else the line's reject; `width` None for a line not
        judged (cut before its end, or the field not hex), 0 for a line without the
        field. Every line counts."""
        wrong: Reject | None = None
        field, prints = f"{self.name}=", f"the monitor prints {self.digits}"
        if width is None:
            pass
        elif width == 0 and self.digits and self.previous != 0:
            why = f"no {field} where the monitor prints it ({self.digits} digits)"
            wrong = Reject(RejectReason.BAD_FORMAT, f"{why}: its key garbled (line noise)")
        elif 0 < width < self.digits and width != self.previous:
            why = f"{field} of {width} digits, {prints}: a byte lost (line noise)"
            wrong = Reject(RejectReason.BAD_LENGTH, why)
        elif 0 < self.widest < width != self.previous:
            why = f"{field} of {width} digits, {prints}: a byte too many (line noise)"
            wrong = Reject(RejectReason.BAD_LENGTH, why)
        else:
            self.digits = width if width < self.digits else max(self.digits, width)
            self.widest = max(self.widest, width)
        self.previous = width
        return wrong
