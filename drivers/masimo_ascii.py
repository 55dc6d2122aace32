"""Masimo "ASCII 1" serial output (Rad-8, Radical-7 and kin), 9600 8N1.

Wire layout: one text line per second, terminated by CR LF, space-separated fields:

    02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-%
    DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800
    |date--| |time--| |key=value ...........................................|

- date MM/DD/YY and time HH:MM:SS are the monitor's own clock (recorded, not trusted).
- SPO2 percent and BPM pulse rate: three digits, or `---` for "no value". `000` is no
  value too (SpO2 `None`, so `valid: false`; pulse `None`), as 0 is in the BLE PLX and
  Contec decoders: the Rad-8 manual's sample trend output (p. 4-24) prints
  `SpO2=000 PR=000` with only the SET bit between two readings.
- Radical-7 lines may start with NUL bytes: stripped.
- EXC: hex bit field of exceptions, 6 digits on a Rad-8, 7 on a Radical-7 (Rad-8
  operator's manual, "Trend data format"; the same low 12 bits in the open
  masimo-datacapture tools and k-cross/pulse_ox; the bits above 0x800 from MD PnP's
  Radical-5/7 reader, `other/pox_rad/src/poxrad_discrete.h` in github.com/mdpnp/mdpnp,
  which quotes the Radical operator's manual):

      0x001 no sensor          0x002 defective sensor   0x004 low perfusion
      0x008 pulse search       0x010 interference       0x020 sensor off (patient)
      0x040 ambient light      0x080 unrecognized sensor 0x100 incompatible sensor
      0x400 low signal IQ      0x800 Masimo SET mode: the *normal* state of a Rad-8
      0x1000 no cable connected      0x2000 cable life expired
      0x4000 incompatible cable      0x8000 unrecognized cable   0x10000 defective cable
      0x20000 sensor calibrating     0x40000 sensor life expired
      0x80000 emitter temperature out of range   0x100000 sensor current limit exceeded
      0x200000 SpCO low confidence   0x400000 SpMet low confidence

  A sensor or cable problem that leaves no sensor reading the patient (0x001, 0x002,
  0x020, 0x080, and their cable counterparts 0x1000 no cable, 0x8000 unrecognized
  cable, 0x10000 defective cable) means no usable measurement and no contact
  (`probe_off`, `contact: false`, so `tech.sensor_off` can run: a monitor whose patient
  cable is unplugged says 0x1000, and while that bit was taken as a quality flag, with
  contact true and no number, no alarm ran at all). Pulse search (0x008) and sensor
  calibrating (0x20000) mean the numbers are not settled: `valid: false`, but not probe
  off: `contact: true`, which ends a running `tech.sensor_off` timer or alarm (so would
  an absent contact: clinical-rules.md, "contact back on a sample whose contact is true
  or absent"). No source says pulse search means the finger out: the Rad-8 manual's
  trend sample shows it beside sensor off (`828:Search,OffPat,SET`, probe off by 0x020),
  and a Root's sensor coming off (the capture below) went from `1000800` straight to
  `0000820` without a pulse-search line (an open question in docs/devices.md). The other bits
  are quality flags by name (an incompatible sensor or an expired one may still be
  measuring: a Rad-87 keeps monitoring with an expired sensor until it comes off the
  patient, Rad-87 operator's manual, "LED display" messages); an unknown bit is kept as
  `exc_bitN`.
- ALARM: hex bit field of the monitor's own alarms (masimo-datacapture's bench decode;
  bits above 0x20 from the same MD PnP reader): 0x01 SpO2 high, 0x02 SpO2 low, 0x04 BPM
  high, 0x08 BPM low, 0x10 alarm sounding, 0x20 alarm silenced (mute pressed), 0x40 low
  battery, 0x100/0x200 SpCO high/low, 0x400/0x800 SpMet high/low, 0x1000 desaturation
  index, 0x2000 PI rate of change. Mute pressed is not an alarm: `device_alarm` is
  flagged for any other bit. The monitor's alarms never drive monitord's rules.
- A Rad-8 ships in "ASCII 2" (the mode its TrendCom trend download uses). In a field
  report a Rad-8 in ASCII 2 sent nothing at all: the link's silence warning then gives
  this driver's `silence_advice` (set ASCII 1). A text line without any `KEY=value` field
  is rejected as `wrong_mode` with the same advice to switch to ASCII 1.

- A cut line is a reject (`bad_length`), never a reading. A line cut by a lost stretch
  of bytes and then terminated read as whole: `... SPO2=098% BPM=09` gave a pulse of 9,
  and a line ending `EXC=0008` (the `20` of `EXC=000820` lost) read pulse search where
  the monitor said sensor off. Every real line of every public source prints its
  oximeter fields at fixed widths and always carries `EXC=`: Rad-8 (yahnatan/pulseox,
  k-cross/pulse_ox, masimo-datacapture, hansmuc/NellcorN560Seriell), Radical-7
  (masimo-datacapture; MD PnP's example), Radical-5 (MD PnP's example) and a Masimo Root
  with a SedLine module (28 minutes of lines in UrielCandelasMeza/
  OpenICE_RaspberryPi_Implementation `scripts/datos_massimo3.txt` @83871892). So:
  SPO2 and BPM must be three characters (`098`, `---`), a line must carry `EXC=`, and
  on a connection an `EXC=` narrower than the connection's (6 digits on a Rad-8, 7
  on a Radical-7 or Root, 3 in MD PnP's Radical-5 example) is a cut value. The
  connection's width is its widest line's, or a narrower one that two lines in a row
  print (a monitor that changed); not a width from a value that is not hex (noise). An
  `EXC=` wider than any the connection has read is a byte too many (line noise: in `0008200`
  the SET bit 0x800 moved up to 0x8000, unrecognized cable, a probe off with the wrong
  cause, on a measuring line too), a `bad_length` reject, unless the line
  before was as wide (a monitor that prints wider: read from its second line). `EXC=` is not
  required to be the last field: a Radical-7 prints `EXC1=` after it and a Root its
  module fields (OpenICE's Radical-7 reader, mdpnp/mdpnp `masimo-radical-7.spec`, wants
  it last and so would read neither). Not caught: a cut inside the EXC value of a
  connection's first whole line (no width yet to compare), a byte too many there (it
  reads and sets the width), a byte too many in an EXC as wide as one the connection read
  before a narrower width took over (`widest` keeps it: a Root then a Rad-8 on one cable),
  the second of two lines in a row cut to the same EXC width, or a cut after the EXC
  value (what is read is whole).
  An `ALARM=` wider than any the connection has read is the same byte too many (`0038`,
  BPM low, sounding and silenced, read as `00388`: SpCO high and low), and one narrower
  than the connection's, on a line whose `EXC=` is whole, a byte lost (`008`: BPM low
  alone), refused alike, and so is a line without `ALARM=` where the connection's lines
  carry it (its key garbled: `ALRM=0038` read as no alarm at all), from the fields the
  decoder reads (`masimo_runs.FieldWidth`, `alarm_digits`). Every single-byte error of
  every real line is refused or reads as the line did, but a digit of SPO2, BPM, ALARM
  or EXC replaced by another (no checksum): tests/serial/test_masimo_byte_errors.py.
  Not caught, as for EXC: an error in the ALARM of a connection's first line, or a byte
  too many in it after a monitor that printed it wider (a Root, then a Rad-8: `widest`).
  A monitor that never prints `EXC=` (no public line shows one) is refused too, but
  said as such from its second line in a row ending at the same field (`masimo_runs.NoExcRun`).

The decoder is pure: one line (bytes, without CR LF) in, a `Measurement` or a typed
`Reject` out (`decode_line` gives the same as the decode CLI's record; `decode_sized`
also checks the EXC width against the connection's).
Lengths are bounded before any number is parsed (a 5,000-digit "number" is a reject, not
a ValueError from int()). The `LineFramer` splits a byte stream into lines and rejects
oversize garbage.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from monitord.config import DeviceOptions
from monitord.drivers.base import (
    ByteLink,
    DecodeProfile,
    DeviceContext,
    DriverDescriptor,
    Measurement,
    Reject,
    RejectReason,
    SerialDefaults,
    stamp,
)
from monitord.drivers.masimo_runs import FIELD as _FIELD
from monitord.drivers.masimo_runs import FieldWidth, NoExcRun, alarm_digits
from monitord.drivers.masimo_serial_no import SerialNumber
from monitord.drivers.serial_link import SerialLinkSettings
from monitord.models import Kind

log = logging.getLogger(__name__)

# Longest line taken. A Rad-8 line is ~130 bytes, a Radical-7's ~190; a Masimo Root with
# a SedLine module prints 352 (a capture: UrielCandelasMeza/OpenICE_RaspberryPi_
# Implementation scripts/datos_massimo3.txt @83871892; every line was over the former
# 256, so a Root gave no reading at all), and with every module of a Root reader's key
# table (DiegoVargasVar/MASIMO pymasimo/parse.py: capnography, NIBP, temperature
# besides) about 640 by the same field widths, an estimate. Longer is a lost terminator
# or garbage; 1,024 bytes is also about the most 9600 baud carries in the second between
# two lines.
MAX_LINE = 1024
MAX_VALUE = 10  # longest real value: SN=0000056661; EXC=0000C00 / EXC1=00000000

EXC_NO_SENSOR = 0x001
EXC_DEFECTIVE_SENSOR = 0x002
EXC_PULSE_SEARCH = 0x008
EXC_SENSOR_OFF = 0x020
EXC_UNRECOGNIZED_SENSOR = 0x080
EXC_SET_MODE = 0x800  # normal operation of a Rad-8 (full SET mode), not an exception
EXC_NO_CABLE = 0x1000
EXC_UNRECOGNIZED_CABLE = 0x8000
EXC_DEFECTIVE_CABLE = 0x10000
EXC_SENSOR_CALIBRATING = 0x20000
EXC_NAMES = {
    0x001: "no_sensor",
    0x002: "defective_sensor",
    0x004: "low_perfusion",
    0x008: "pulse_search",
    0x010: "interference",
    0x020: "sensor_off",
    0x040: "ambient_light",
    0x080: "unrecognized_sensor",
    0x100: "incompatible_sensor",
    0x400: "low_signal_iq",
    0x1000: "no_cable",
    0x2000: "cable_life_expired",
    0x4000: "incompatible_cable",
    0x8000: "unrecognized_cable",
    0x10000: "defective_cable",
    0x20000: "sensor_calibrating",
    0x40000: "sensor_life_expired",
    0x80000: "emitter_temperature",
    0x100000: "sensor_current_limit",
    0x200000: "spco_low_confidence",
    0x400000: "spmet_low_confidence",
}
# no usable sensor on the patient: no value, no contact. The cable bits are the sensor
# bits' counterparts one connector up: no sensor can be read through a missing,
# unrecognized or defective patient cable either.
EXC_PROBE_OFF = (
    EXC_NO_SENSOR
    | EXC_DEFECTIVE_SENSOR
    | EXC_SENSOR_OFF
    | EXC_UNRECOGNIZED_SENSOR
    | EXC_NO_CABLE
    | EXC_UNRECOGNIZED_CABLE
    | EXC_DEFECTIVE_CABLE
)
# numbers not settled yet (searching for a pulse, the sensor still calibrating)
EXC_NOT_VALID = EXC_PROBE_OFF | EXC_PULSE_SEARCH | EXC_SENSOR_CALIBRATING

ALARM_SILENCED = 0x20
ALARM_NAMES = {
    0x01: "device_alarm_spo2_high",
    0x02: "device_alarm_spo2_low",
    0x04: "device_alarm_bpm_high",
    0x08: "device_alarm_bpm_low",
    0x10: "device_alarm_sounding",
    0x20: "device_alarm_silenced",
    0x40: "device_alarm_low_battery",
    0x100: "device_alarm_spco_high",
    0x200: "device_alarm_spco_low",
    0x400: "device_alarm_spmet_high",
    0x800: "device_alarm_spmet_low",
    0x1000: "device_alarm_desat_index",
    0x2000: "device_alarm_pi_delta",
}

ASCII2_ADVICE = (
    "switch the Rad-8 to ASCII 1 in its menu (setup level 3, serial output; it ships in ASCII 2)"
)
# A Rad-8 in its factory mode ASCII 2 sends nothing at all on the line (a field report:
# github.com/yahnatan/pulseox README), so the only thing the operator reads is the link's
# silence warning: it names the fix.
SILENCE_ADVICE = (
    "a Masimo monitor sends a line every second: check it is on and cabled, set its serial "
    "output to ASCII 1 (Rad-8: setup menu level 3, Serial Output SEr -> AS1; it ships in "
    "ASCII 2 and then sends nothing) and the line to 9600 8N1"
)

_STAMP = re.compile(r"^(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)\s")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
LACKS_SPO2_BPM = "line lacks SPO2= or BPM="
LACKS_EXC = "line lacks EXC=: a cut line"
# SPO2 and BPM as every real line prints them: three digits or `---` (module docstring)
_NUMBER = re.compile(r"(\d{3}|-{3})%?")
_SHORT = re.compile(r"(\d{1,2}|-{1,2})%?")


def _int_or_none(text: str, name: str) -> int | Reject | None:
    m = _NUMBER.fullmatch(text)
    if m is None:
        if _SHORT.fullmatch(text):
            return Reject(RejectReason.BAD_LENGTH, f"{name}={text!r}: a cut line (3 digits)")
        return Reject(RejectReason.BAD_FORMAT, f"{name}={text!r} is not a number")
    digits = m.group(1)
    return None if digits.startswith("-") else int(digits)


def _hex(fields: dict[str, str], name: str) -> int | Reject:
    text = fields.get(name)
    if text is None:
        return 0
    return _hex_value(text, name)


def _hex_value(text: str, name: str) -> int | Reject:
    if not _HEX.fullmatch(text):
        return Reject(RejectReason.BAD_FORMAT, f"{name}={text!r} is not hex")
    return int(text, 16)


def _bit_names(value: int, names: dict[int, str], prefix: str) -> list[str]:
    out: list[str] = []
    for n in range(value.bit_length()):
        bit = 1 << n
        if value & bit:
            out.append(names.get(bit, f"{prefix}_bit{n}"))
    return out


def decode(line: bytes) -> Measurement | Reject:
    """Decode one ASCII-1 line. Never raises."""
    return decode_sized(line)[0]


def decode_sized(line: bytes, exc_digits: int = 0) -> tuple[Measurement | Reject, int]:
    """Decode one ASCII-1 line whose monitor prints `EXC=` with `exc_digits` digits on
    this connection (0: none yet); also the digits of this line's `EXC=` (0 when it has
    none, or one that is not hex). Never raises."""
    if len(line) > MAX_LINE:
        return Reject(RejectReason.OVERSIZE, f"line of {len(line)} bytes, over {MAX_LINE}"), 0
    try:
        text = line.lstrip(b"\x00").decode("ascii").strip()
    except UnicodeDecodeError:
        return Reject(RejectReason.BAD_FORMAT, "non-ASCII bytes in line"), 0
    if not text:
        return Reject(RejectReason.NO_VALUE, "empty line"), 0
    pairs = _FIELD.findall(text)
    if not pairs:
        if text.isprintable():
            why = f"not an ASCII 1 line (no KEY=value field): {ASCII2_ADVICE}"
            return Reject(RejectReason.WRONG_MODE, why), 0
        return Reject(RejectReason.BAD_FORMAT, "control characters in line"), 0
    twice = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    if twice:
        return Reject(RejectReason.BAD_FORMAT, f"duplicate field {twice[0]}= in line"), 0
    fields = dict(pairs)
    long = next((k for k, v in pairs if len(v) > MAX_VALUE), None)
    if long is not None:
        why = f"{long}= value of {len(fields[long])} characters"
        return Reject(RejectReason.BAD_FORMAT, why), 0
    if "SPO2" not in fields or "BPM" not in fields:
        return Reject(RejectReason.BAD_FORMAT, LACKS_SPO2_BPM), 0
    spo2 = _int_or_none(fields["SPO2"], "SPO2")
    if isinstance(spo2, Reject):
        return spo2, 0
    bpm = _int_or_none(fields["BPM"], "BPM")
    if isinstance(bpm, Reject):
        return bpm, 0
    if spo2 is not None and spo2 > 100:
        return Reject(RejectReason.IMPLAUSIBLE, f"SPO2={spo2} above 100 %"), 0
    if bpm is not None and bpm > 300:
        return Reject(RejectReason.IMPLAUSIBLE, f"BPM={bpm} above 300"), 0
    # 000 is the monitor saying it has no number, not a measured 0 % (or 0 bpm) to alarm on
    spo2 = spo2 or None
    bpm = bpm or None
    exc_text = fields.get("EXC")
    if exc_text is None:
        # every real line carries EXC= after SPO2= and BPM=: this one lost its end
        return Reject(RejectReason.BAD_LENGTH, LACKS_EXC), 0
    exc = _hex_value(exc_text, "EXC")
    if isinstance(exc, Reject):
        # No width: a byte of line noise in or after the value (`000\x00800`, `000800r`
        # of a garbled CR) is not the monitor printing wider, and learnt it cost the next
        # sound line too (narrower than this one: a cut line), 3 s between two readings;
        # nor narrower (a second narrow line in a row sets the connection's width).
        return exc, 0
    width = len(exc_text)
    if width < exc_digits:
        why = f"EXC={exc_text!r} of {width} digits, the monitor prints {exc_digits}: a cut line"
        return Reject(RejectReason.BAD_LENGTH, why), width
    alarm = _hex(fields, "ALARM")
    if isinstance(alarm, Reject):
        return alarm, width
    status: list[str] = []
    if alarm & ~ALARM_SILENCED:
        status.append("device_alarm")
    status += _bit_names(alarm, ALARM_NAMES, "alarm")
    status += _bit_names(exc & ~EXC_SET_MODE, EXC_NAMES, "exc")
    probe_off = bool(exc & EXC_PROBE_OFF)
    if probe_off:
        status.append("probe_off")
    device_time: datetime | None = None
    m = _STAMP.match(text + " ")
    if m:
        mo, d, y, hh, mi, ss = (int(g) for g in m.groups())
        try:
            device_time = datetime(2000 + y, mo, d, hh, mi, ss, tzinfo=UTC)
        except ValueError:
            status.append("bad_device_clock")
    reading = Measurement(
        kind=Kind.SPO2,
        values={
            "spo2_pct": None if probe_off else spo2,
            "pulse_bpm": None if probe_off else bpm,
        },
        device_time=device_time,
        valid=spo2 is not None and not exc & EXC_NOT_VALID,
        flags=tuple(status),
        contact=not probe_off,
    )
    return reading, width


def decode_line(line: bytes) -> dict[str, Any] | Reject:
    """One ASCII-1 line as the decode CLI's record (design.md field names)."""
    m = decode(line)
    return m if isinstance(m, Reject) else m.to_record()


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
            if line.strip(b"\x00 \t"):  # NUL padding between Radical-7 lines is no line
                if len(line) > self._max:
                    out.append(Reject(RejectReason.OVERSIZE, f"line over {self._max} bytes"))
                else:
                    out.append(line)


class MasimoProtocol:
    """Listen-only: the monitor talks, we never write.

    The port opens wherever the monitor is in its line (it sends one a second, ~130
    bytes, without a pause to sync on), so the text before the first terminator of a
    connection may be the tail of a line. It is decoded like any line (SPO2= and BPM=
    come before ALARM= and EXC=, so a tail that holds them holds every later field
    whole: it gives a sound reading or a reject). A tail cut inside the last value
    (`000800`) has no `KEY=value` field: judged as a line it was `wrong_mode`, with the
    advice to switch a monitor already in ASCII 1 to ASCII 1. On the first line of a
    connection that reject is counted as `noise` (a cut line), without the advice and
    `expected` (drivers/reject.py: at DEBUG, as the Nonin and Contec readers' first
    partial frame). A tail cut before SPO2= ends (most places the open cuts a line) holds
    later fields: it stays `bad_format` (lacks SPO2=), also `expected`; the other rejects
    of a first line are what they say and warn."""

    def __init__(self, settings: DeviceOptions | None = None) -> None:
        # The serial number (`SN=`) of the monitor last read on this port, across its
        # reconnects: the one field that tells two monitors of a model apart on the wire.
        self.serial_no = SerialNumber()

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        framer = LineFramer()
        lines = ConnectionLines()  # per connection: a reconnect learns the widths anew
        while True:
            for item in framer.feed(await link.read()):
                got = lines.take(item)
                if isinstance(got, Reject):
                    ctx.reject(got)
                else:
                    link.heard()
                    if isinstance(item, bytes):
                        self._same_monitor(item, ctx)
                    ctx.emit(stamp(got, ctx))

    def _same_monitor(self, line: bytes, ctx: DeviceContext) -> None:
        """Say when the monitor on this port is another one (its SN= changed): two chairs'
        USB adapters swapped, a monitor exchanged. Its readings are still taken (which
        chair it stands at is not on the wire), but no longer silently."""
        was = self.serial_no.read(line)  # a number confirmed: noise is not (its module)
        if was is not None:
            log.warning(
                "%s/%s: the monitor on this port is now SN=%s, was SN=%s: another monitor "
                "(USB adapters swapped between ports or chairs, or the monitor exchanged); "
                "its readings are taken as %s's: check which monitor is at this chair",
                ctx.chair,
                ctx.device,
                self.serial_no.known,
                was,
                ctx.chair,
            )


class ConnectionLines:
    """One connection's lines in order, each judged against the lines before it (the
    widths of `EXC=` and `ALARM=`, lines without `EXC=` in a row; module docstring, "A
    cut line"): what MasimoProtocol.run emits or rejects for each. Synchronous, so a test
    can put every mutation of a real line through the very judgement the daemon makes."""

    def __init__(self) -> None:
        self.first = True  # the next item is the connection's first: maybe a cut line
        self.exc_digits = 0  # the connection's width of EXC= (module docstring)
        self.previous = 0  # the width of EXC= on the previous line (0: none)
        self.widest = 0  # the widest EXC= the connection has read: wider is noise once
        self.no_exc = NoExcRun()
        self.alarm = FieldWidth("ALARM")  # ALARM='s width, judged as EXC='s

    def take(self, item: bytes | Reject) -> Measurement | Reject:
        """A framed line (or the framer's reject): the reading or the reject for it."""
        cut, self.first = self.first, False
        if isinstance(item, Reject):
            return item
        exc_digits, previous = self.exc_digits, self.previous
        m, width = decode_sized(item, exc_digits)
        # every line, as EXC's; a line without a whole EXC= may be cut inside
        # ALARM= (`ALARM=00`): its width is not the monitor's
        alarm_wrong = self.alarm.judge(alarm_digits(item) if width else None)
        if 0 < width < exc_digits and width == previous:
            # The second line in a row this narrow: a monitor whose width really
            # changed (one that does not zero-pad; no public line shows one)
            # loses the line at the change, not every line after it. Learnt from
            # one refused line, the next line cut less short read as whole.
            self.exc_digits = width
            m, width = decode_sized(item, width)
        elif 0 < self.widest < width != previous and not isinstance(m, Reject):
            # One line wider than the monitor prints: a byte too many (line
            # noise), its EXC misread (`0008200`: the SET bit 0x800 moved up to
            # 0x8000, unrecognized cable, probe off even on a measuring line).
            # Before, it read, and set the width, refusing the
            # next sound line as cut. A monitor that prints wider (two lines in a
            # row) is read from its second line; a width it printed before (a
            # monitor that does not zero-pad, back from a narrow EXC) at once.
            why = f"EXC= of {width} digits, the monitor prints {exc_digits}"
            self.previous = width
            self.no_exc.reset()
            return Reject(RejectReason.BAD_LENGTH, f"{why}: a byte too many (line noise)")
        self.previous = width
        self.exc_digits = max(self.exc_digits, width)  # a wider line (a cut is narrower)
        self.widest = max(self.widest, width)
        if alarm_wrong is not None and not isinstance(m, Reject):
            # A byte too many or lost in ALARM= (EXC= whole): `0038` (BPM low,
            # sounding, silenced) read `00388` (SpCO high and low) or `008` (BPM
            # low alone), the sounding and silenced flags gone; or its key garbled
            # (`ALRM=0038`), read as no alarm at all. Before, each read.
            m = alarm_wrong
        if isinstance(m, Reject) and cut and m.reason is RejectReason.WRONG_MODE:
            return Reject(RejectReason.NOISE, "first line cut by the port's open", expected=True)
        if isinstance(m, Reject) and cut and m.detail == LACKS_SPO2_BPM:
            # Where the open cuts a line most often (before its SPO2= ends): the
            # tail holds later fields only. Still bad_format, at DEBUG; a monitor
            # none of whose lines carry SPO2= is warned of at its next line.
            return Reject(m.reason, m.detail, expected=True)
        if isinstance(m, Reject) and m.detail == LACKS_EXC:
            return self.no_exc.judge(item, m)
        self.no_exc.reset()
        return m


def _decode_profile(data: bytes) -> list[dict[str, Any]] | Reject:
    rec = decode_line(data)
    return rec if isinstance(rec, Reject) else [rec]


DRIVER = DriverDescriptor(
    name="masimo-ascii",
    transport="serial",
    kinds=(Kind.SPO2,),
    summary="Masimo Rad-8/Radical-7 ASCII 1 text output (SpO2, pulse rate)",
    settings=SerialLinkSettings,
    make_protocol=MasimoProtocol,
    serial=SerialDefaults(baudrate=9600, period_s=1.0, silence_s=5.0),  # a line a second
    silence_advice=SILENCE_ADVICE,
    simulator="monitord.simulators.masimo:MasimoSim",
)
PROFILE = DecodeProfile(
    name="masimo-ascii",
    input="text",
    summary="one ASCII 1 line",
    decode=_decode_profile,
)
