"""Which Masimo is on a port: the `SN=` of its ASCII 1 lines (drivers/masimo_ascii.py).

The number tells two monitors of a model apart on the wire (two chairs' USB adapters
swapped, a monitor exchanged), but ASCII 1 carries no checksum and the driver takes a
line's reading whatever its `SN=` holds: one byte of noise inside the number (a digit
replaced, one inserted or lost) reads as another monitor on that one line. Said at once,
each noisy line was two WARNINGs, "now SN=<garbled>" and then "now SN=<the monitor's>"
(tests/serial/test_masimo_serial_no.py, every such error of the real captures), and a
line that staff learn to ignore is no warning of a swap. A monitor's number is taken once
it is read on `CONFIRM_LINES` lines in a row: noise does not repeat itself on consecutive
lines, another monitor's number is on every line it sends (said ~3 s after the swap, at
one line a second).
"""

from __future__ import annotations

import re

# A whole SN= field (a Rad-8's "SN=0000056661", github.com/yahnatan/pulseox; a Root's
# "SN=2000134890  CHAN=...", the OpenICE capture); a line cut inside it has no "SN=" left,
# and a Rad-8's "SN=----------" (no number set) has no number: neither says anything.
_SERIAL_NO = re.compile(rb"(?:^|[\s\x00])SN=([0-9A-Za-z]+)(?=\s|$)")

CONFIRM_LINES = 3


class SerialNumber:
    """The serial number of the monitor read on one port, across its reconnects."""

    def __init__(self) -> None:
        self.known: str | None = None  # the monitor's, read on CONFIRM_LINES lines in a row
        self._seen: str | None = None  # another number, read on `_count` lines in a row
        self._count = 0

    def read(self, line: bytes) -> str | None:
        """Take a line the driver read; the number this port's monitor had before, when
        this line completes another monitor's number (`known` is then the new one)."""
        m = _SERIAL_NO.search(line)
        if m is None:
            return None  # a line without SN= (or cut before it) says nothing of the monitor
        sn = m.group(1).decode("ascii")
        if sn == self.known:
            self._seen, self._count = None, 0  # a garbled number read before was noise
            return None
        if sn != self._seen:
            self._seen, self._count = sn, 0
        self._count += 1
        if self._count < CONFIRM_LINES:
            return None
        was, self.known = self.known, sn
        self._seen, self._count = None, 0
        return was


__all__ = ["CONFIRM_LINES", "SerialNumber"]
