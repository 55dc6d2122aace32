"""A Masimo `ALARM=` one digit wider than the monitor prints (a byte of line noise) is a
`bad_length` reject, as such an `EXC=` is (drivers/masimo_ascii.py, "A cut line"): the
digits before the extra one move up a place and the line reads as another bit field.

The line is k-cross/pulse_ox's real Rad-8 line (tests/serial/test_masimo_captures.py):
`ALARM=0038`, BPM low + alarm sounding + alarm silenced. With its last `8` doubled,
`ALARM=00388` read 0x388: BPM low, SpCO high and low and an unknown bit, the sounding and
silenced flags gone. No public capture shows a noisy line: the test widens a real one.
"""

from __future__ import annotations

from serial_testkit import RecordingContext
from test_masimo_captures import CAPTURES, KCROSS
from test_masimo_first_line import first_bytes

from monitord.drivers.base import RejectReason
from monitord.models import Kind

REAL = next(t for s, t, _ in CAPTURES if s == KCROSS)  # ALARM=0038 EXC=000800
NOISY = REAL.replace("ALARM=0038", "ALARM=00388")
SOUNDING = ("device_alarm_bpm_low", "device_alarm_sounding", "device_alarm_silenced")


def _stream(*lines: str) -> bytes:
    return "".join(x + "\r\n" for x in lines).encode()


async def test_an_alarm_one_digit_wider_than_the_monitor_prints_is_no_reading() -> None:
    ctx = RecordingContext()
    async with first_bytes(_stream(REAL, NOISY, REAL, REAL), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 3, "the three sound lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects
    assert "ALARM=" in ctx.rejects[0].detail and "a byte too many" in ctx.rejects[0].detail
    for reading in ctx.of(Kind.SPO2):
        assert reading.flags == ("device_alarm", *SOUNDING), reading.flags


async def test_a_monitor_printing_a_wider_alarm_is_read_from_its_second_line() -> None:
    """As for EXC: two lines in a row as wide are the monitor's width (a monitor swapped
    on the cable: a Radical-7 prints `ALARM=000000`, a Rad-8 `ALARM=0000`)."""
    ctx = RecordingContext()
    wider = REAL.replace("ALARM=0038", "ALARM=000038")
    async with first_bytes(_stream(REAL, wider, wider, wider), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 3, "three of the four lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects
    assert all(r.flags == ("device_alarm", *SOUNDING) for r in ctx.of(Kind.SPO2))


async def test_an_alarm_one_digit_narrower_than_the_monitor_prints_is_no_reading() -> None:
    """A byte lost inside `ALARM=` with the line's end whole (so not a cut line, which
    lacks `EXC=`): `0038` losing its `3` read `008`, BPM low alone, the sounding and
    silenced flags gone; losing its `8`, `003`, SpO2 high and low. Refused as `EXC=` one
    digit narrower is; two lines in a row as narrow are the monitor's width."""
    ctx = RecordingContext()
    lost_3 = REAL.replace("ALARM=0038", "ALARM=008")
    lost_8 = REAL.replace("ALARM=0038", "ALARM=003")
    async with first_bytes(_stream(REAL, lost_3, REAL, lost_8, REAL), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 3, "the three sound lines")
        await ctx.until(lambda: len(ctx.rejects) + len(ctx.of(Kind.SPO2)) >= 5, "five lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH] * 2, ctx.rejects
    assert all("ALARM=" in r.detail and "a byte lost" in r.detail for r in ctx.rejects)
    assert all(r.flags == ("device_alarm", *SOUNDING) for r in ctx.of(Kind.SPO2))
    ctx = RecordingContext()
    narrower = REAL.replace("ALARM=0038", "ALARM=38")
    async with first_bytes(_stream(REAL, narrower, narrower, REAL), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 3, "three of the four lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects


async def test_lines_cut_inside_alarm_set_no_alarm_width() -> None:
    """Two lines cut inside `ALARM=` (no `EXC=`: cut lines, refused) are not a monitor
    printing it narrower: the next line with a byte lost there is still refused."""
    ctx = RecordingContext()
    cut = REAL[: REAL.index("ALARM=003") + len("ALARM=003")]
    lost_8 = REAL.replace("ALARM=0038", "ALARM=003")
    async with first_bytes(_stream(REAL, cut, cut, lost_8, REAL), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 2, "the two sound lines")
    # the second cut, alike to the first, is told as a layout without EXC= (NoExcRun)
    cut_twice = [RejectReason.BAD_LENGTH, RejectReason.BAD_FORMAT, RejectReason.BAD_LENGTH]
    assert [r.reason for r in ctx.rejects] == cut_twice, ctx.rejects
    assert "a byte lost" in ctx.rejects[-1].detail


async def test_an_alarm_whose_key_is_garbled_is_no_reading() -> None:
    """A byte lost, added or replaced in the key (`ALRM=0038`, `AL\\x00ARM=0038`) left a
    line without `ALARM=`: read as no alarm at all, the monitor's sounding BPM low alarm
    gone. Every line of every public source carries `ALARM=`: where the connection's do,
    a line without it is refused; two in a row are a monitor without it (as for widths).
    A byte 0x1c-0x1f in the value (`ALARM=00\\x1c8`) is a space to the decoder, which read
    `ALARM=00`, and was part of the value to the width check, which let it by."""
    ctx = RecordingContext()
    garbled = [
        REAL.replace("ALARM=", "ALRM="),
        REAL.replace("ALARM=", "AL\x00ARM="),
        REAL.replace("ALARM=0038", "ALARM=00\x1c8"),
    ]
    async with first_bytes(
        _stream(REAL, garbled[0], REAL, garbled[1], REAL, garbled[2], REAL), ctx
    ):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 4, "the four sound lines")
        await ctx.until(lambda: len(ctx.rejects) + len(ctx.of(Kind.SPO2)) >= 7, "seven lines")
    assert [r.reason for r in ctx.rejects] == [
        RejectReason.BAD_FORMAT,
        RejectReason.BAD_FORMAT,
        RejectReason.BAD_LENGTH,
    ], ctx.rejects
    assert "no ALARM=" in ctx.rejects[0].detail and "a byte lost" in ctx.rejects[2].detail
    assert all(r.flags == ("device_alarm", *SOUNDING) for r in ctx.of(Kind.SPO2))
    ctx = RecordingContext()
    bare = REAL.replace(" ALARM=0038", "")  # a monitor printing no ALARM= (none known)
    async with first_bytes(_stream(REAL, bare, bare, bare), ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) >= 3, "three of the four lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_FORMAT], ctx.rejects
