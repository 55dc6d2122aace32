"""Masimo "ASCII 1" serial output (Rad-8, Radical-7 and kin), 9600 8N1.

Wire layout: one text line per second, terminated by CR LF, space-separated fields:

    02/14/24 10:23:45 SN=0000123456 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-%
    DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
    |date--| |time--| |key=value ...........................................|

- date MM/DD/YY and time HH:MM:SS are the monitor's own clock (recorded, not trusted).
- SPO2 percent and BPM pulse rate: three digits, or `---` for "no value".
- ALARM: 4 hex digits of active alarm bits; EXC: 6 hex digits of exception bits.
  Bit 0x000800 is "sensor off" (shared/protocols.md); any other exception bit is kept as a
  quality flag `exc_0xNNNNNN` so that nothing the monitor said is lost.

The decoder is pure: one line (bytes, without CR LF) in, a record or a typed `Reject` out.
The `LineFramer` splits a byte stream into lines and rejects oversize garbage.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from drivers.base import (
    ByteLink,
    DecodeProfile,
    DeviceContext,
    DriverDescriptor,
    Reject,
    RejectReason,
    SerialDefaults,
)
from monitord.models import Kind, Reading, authoritative_time

MAX_LINE = 256  # a real line is ~130 bytes; longer means we lost a terminator in noise
EXC_SENSOR_OFF = 0x000800

_FIELD = re.compile(r"([A-Z][A-Z0-9]*)=(\S+)")
_STAMP = re.compile(r"^(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)\s")


def _int_or_none(text: str, name: str) -> int | Reject | None:
    digits = text.rstrip("%")
    if set(digits) == {"-"}:
        return None
    if not digits.isdigit():
        return Reject(RejectReason.BAD_FORMAT, f"{name}={text!r} is not a number")
    return int(digits)


def decode_line(line: bytes) -> dict[str, Any] | Reject:
    """Decode one ASCII-1 line into design.md field names."""
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return Reject(RejectReason.BAD_FORMAT, "non-ASCII bytes in line")
    if not text:
        return Reject(RejectReason.NO_VALUE, "empty line")
    fields = dict(_FIELD.findall(text))
    if "SPO2" not in fields or "BPM" not in fields:
        return Reject(RejectReason.BAD_FORMAT, "line lacks SPO2= or BPM=")
    spo2 = _int_or_none(fields["SPO2"], "SPO2")
    if isinstance(spo2, Reject):
        return spo2
    bpm = _int_or_none(fields["BPM"], "BPM")
    if isinstance(bpm, Reject):
        return bpm
    if spo2 is not None and spo2 > 100:
        return Reject(RejectReason.IMPLAUSIBLE, f"SPO2={spo2} above 100 %")
    if bpm is not None and bpm > 300:
        return Reject(RejectReason.IMPLAUSIBLE, f"BPM={bpm} above 300")
    status: list[str] = []
    exc = 0
    if "EXC" in fields:
        try:
            exc = int(fields["EXC"], 16)
        except ValueError:
            return Reject(RejectReason.BAD_FORMAT, f"EXC={fields['EXC']!r} is not hex")
    if "ALARM" in fields:
        try:
            if int(fields["ALARM"], 16):
                status.append("device_alarm")
        except ValueError:
            return Reject(RejectReason.BAD_FORMAT, f"ALARM={fields['ALARM']!r} is not hex")
    probe_off = bool(exc & EXC_SENSOR_OFF)
    if probe_off:
        status.append("probe_off")
    if exc & ~EXC_SENSOR_OFF:
        status.append(f"exc_0x{exc & ~EXC_SENSOR_OFF:06x}")
    measured_at: str | None = None
    m = _STAMP.match(text + " ")
    if m:
        mo, d, y, hh, mi, ss = (int(g) for g in m.groups())
        try:
            measured_at = datetime(2000 + y, mo, d, hh, mi, ss, tzinfo=UTC).isoformat()
        except ValueError:
            status.append("bad_device_clock")
    valid = spo2 is not None and not probe_off
    return {
        "spo2_pct": spo2,
        "pulse_bpm": bpm,
        "measured_at": measured_at,
        "status": status,
        "contact": not probe_off,
        "valid": valid,
    }


class LineFramer:
    """Split a byte stream into CR/LF-terminated lines; pure and incremental."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | Reject]:
        out: list[bytes | Reject] = []
        self._buf += data
        while True:
            idx = min(
                (i for i in (self._buf.find(b"\n"), self._buf.find(b"\r")) if i >= 0), default=-1
            )
            if idx < 0:
                if len(self._buf) > self._max:
                    if not self._discarding:
                        out.append(Reject(RejectReason.OVERSIZE, f"line over {self._max} bytes"))
                    self._discarding = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:idx])
            del self._buf[: idx + 1]
            if self._discarding:  # tail of an oversize line: already counted
                self._discarding = False
                continue
            if line:
                if len(line) > self._max:
                    out.append(Reject(RejectReason.OVERSIZE, f"line over {self._max} bytes"))
                else:
                    out.append(line)


def to_reading(rec: dict[str, Any], ctx: DeviceContext) -> Reading:
    received = ctx.now()
    device_time = datetime.fromisoformat(rec["measured_at"]) if rec["measured_at"] else None
    return Reading(
        chair=ctx.chair,
        device=ctx.device,
        kind=Kind.SPO2,
        values={"spo2_pct": rec["spo2_pct"], "pulse_bpm": rec["pulse_bpm"]},
        measured_at=authoritative_time(device_time, received),
        received_at=received,
        valid=rec["valid"],
        flags=tuple(rec["status"]),
        contact=rec["contact"],
        device_time=device_time,
    )


class MasimoProtocol:
    """Listen-only: the monitor talks, we never write."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = options or {}

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        framer = LineFramer()
        while True:
            for item in framer.feed(await link.read()):
                if isinstance(item, Reject):
                    ctx.reject(item)
                    continue
                rec = decode_line(item)
                if isinstance(rec, Reject):
                    ctx.reject(rec)
                else:
                    ctx.emit(to_reading(rec, ctx))


def _decode_profile(data: bytes) -> list[dict[str, Any]] | Reject:
    rec = decode_line(data)
    return rec if isinstance(rec, Reject) else [rec]


DRIVER = DriverDescriptor(
    name="masimo-ascii",
    transport="serial",
    kinds=(Kind.SPO2,),
    summary="Masimo Rad-8/Radical-7 ASCII 1 text output (SpO2, pulse rate)",
    make_protocol=MasimoProtocol,
    serial=SerialDefaults(baudrate=9600, silence_s=5.0),
)
PROFILE = DecodeProfile(
    name="masimo-ascii",
    input="text",
    summary="one ASCII 1 line",
    decode=_decode_profile,
)
