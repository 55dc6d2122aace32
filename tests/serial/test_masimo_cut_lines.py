"""A Masimo line cut short and then terminated is a `bad_length` reject, never a reading
(drivers/masimo_ascii.py, "A cut line"); every real line of the public captures still
reads, with the EXC width the transport remembers between lines.

Before: `... SPO2=098% BPM=09` read a pulse of 9 bpm, a line ending `EXC=0008` (the `20`
of a sensor-off `EXC=000820` lost) read pulse search with contact, and a line without
`EXC=` read as exception 0. The cut lines below are real lines of the captures in
tests/serial/test_masimo_captures.py (and MD PnP's examples) with their end taken off:
no public capture shows a cut line.
"""

from __future__ import annotations

from itertools import groupby

import pytest
from serial_testkit import RecordingContext
from test_masimo_captures import CAPTURES
from test_masimo_first_line import first_bytes

from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.masimo_ascii import decode, decode_sized
from monitord.models import Kind

# github.com/mdpnp/mdpnp @76ce3a4f other/pox_rad/src/poxrad_discrete.h: its example lines
MDPNP = "github.com/mdpnp/mdpnp @76ce3a4f poxrad_discrete.h"
MDPNP_LINES = [
    (
        MDPNP + " (Radical-7)",
        "12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% "
        "SPMET=00.5% DESAT=01 PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820",
    ),
    (MDPNP + " (Radical-5)", "09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800"),
]
REAL = [(source, text) for source, text, _ in CAPTURES] + MDPNP_LINES
RAD8 = CAPTURES[0][1]  # github.com/yahnatan/pulseox, a Rad-8
RADICAL7 = next(t for _, t, _ in CAPTURES if "EXC1=" in t and "CHAN=" not in t)
ROOT = next(t for _, t, _ in CAPTURES if "CHAN=" in t)
RAD8_OFF = RAD8.replace("EXC=000800", "EXC=000820")  # sensor off, as the Rad-8 manual's


def _cut(text: str, after: str) -> bytes:
    """`text` up to and including the first `after`: the rest of the line lost."""
    return text[: text.index(after) + len(after)].encode()


# (what, line, EXC digits of the line before on the connection)
CUTS = [
    ("Rad-8 cut inside BPM", _cut(RAD8, "BPM=09"), 0),
    ("Rad-8 cut inside PI", _cut(RAD8, "PI=03."), 0),
    ("Rad-8 cut after ALARM", _cut(RAD8, "ALARM=0000"), 0),
    ("Rad-8 sensor off cut inside EXC", _cut(RAD8_OFF, "EXC=0008"), 6),
    ("Radical-7 cut inside EXC", _cut(RADICAL7, "EXC=0000"), 7),
    ("Root cut inside BPM", _cut(ROOT, "BPM=09"), 0),
    ("Root cut inside EXC", _cut(ROOT, "EXC=10008"), 7),
    ("Root cut before its EXC", _cut(ROOT, "ACSALARM=0000"), 0),
    ("Radical-5 (MD PnP example) cut inside BPM", _cut(MDPNP_LINES[1][1], "BPM=06"), 0),
]


@pytest.mark.parametrize(("what", "line", "digits"), CUTS, ids=[c[0] for c in CUTS])
def test_a_cut_line_is_a_bad_length_reject(what: str, line: bytes, digits: int) -> None:
    got, _ = decode_sized(line, digits)
    assert isinstance(got, Reject) and got.reason is RejectReason.BAD_LENGTH, (what, got)
    assert "a cut line" in got.detail


@pytest.mark.parametrize("source", sorted({s for s, _ in REAL}))
def test_every_real_line_reads_line_after_line(source: str) -> None:
    """Each source's lines in order, as one connection would read them (the EXC width of
    each line checked against the line before; masimo-datacapture's Rad-8 line comes
    before its Radical-7 line, and a wider EXC is never a cut), and each alone (`monitord
    decode`)."""
    ((_, lines),) = [
        (s, [t for _, t in g]) for s, g in groupby(REAL, lambda r: r[0]) if s == source
    ]
    digits = 0
    for text in lines:
        got, digits = decode_sized(text.encode(), digits)
        assert not isinstance(got, Reject), (source, text, got)
        assert not isinstance(decode(text.encode()), Reject), (source, text)


async def test_cut_lines_through_the_transport_give_no_reading() -> None:
    """A Rad-8 on a real pty and the real transport: whole, cut, cut, whole."""
    ctx = RecordingContext()
    stream = RAD8.encode() + b"\r\n" + _cut(RAD8, "BPM=09") + b"\r\n"
    stream += _cut(RAD8_OFF, "EXC=0008") + b"\r\n" + RAD8_OFF.encode() + b"\r\n"
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 2, "the two whole lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH] * 2, ctx.rejects
    whole, off = ctx.of(Kind.SPO2)
    assert whole.values == {"spo2_pct": 98, "pulse_bpm": 97} and whole.contact
    assert off.values == {"spo2_pct": None, "pulse_bpm": None} and not off.contact


async def test_a_narrower_exc_costs_one_line_not_every_line() -> None:
    """Were a monitor not to zero-pad EXC (no public line shows one: MD PnP's Radical-5
    example prints `EXC=800`, a no-sensor state would be `EXC=1`), the line at the change
    is taken for a cut one, and the lines after it read."""
    ctx = RecordingContext()
    normal = MDPNP_LINES[1][1]
    no_sensor = normal.replace("SPO2=097%", "SPO2=---%").replace("BPM=064", "BPM=---")
    no_sensor = no_sensor.replace("EXC=800", "EXC=1")
    stream = "".join(x + "\r\n" for x in (normal, no_sensor, no_sensor, normal)).encode()
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 3, "three of the four lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects
    assert [r.contact for r in ctx.of(Kind.SPO2)] == [True, False, True]


@pytest.mark.parametrize("noisy", [b"", b"EXC=0r"], ids=["cut, cut", "cut, noise, cut"])
async def test_two_cut_lines_in_a_row_the_second_cut_less_short_gives_no_reading(
    noisy: bytes,
) -> None:
    """The width was learnt from every line, a refused cut one too: after a Rad-8 line
    cut to `EXC=00`, the next one cut to `EXC=00082` (a sensor-off `000820` losing its
    last digit) was wider than that and read as whole: 0x82, an unrecognized sensor
    where the monitor said sensor off. A narrower width is the monitor's only when two
    lines in a row print it, in hex (`0r`: a byte of noise)."""
    ctx = RecordingContext()
    last = CAPTURES[1][1]  # the capture's next whole line (BPM=096): the end of the stream
    stream = RAD8.encode() + b"\r\n" + _cut(RAD8_OFF, "EXC=00") + b"\r\n"
    if noisy:
        stream += _cut(RAD8_OFF, "ALARM=0000 ") + noisy + b"\r\n"
    stream += _cut(RAD8_OFF, "EXC=00082") + b"\r\n" + last.encode() + b"\r\n"
    async with first_bytes(stream, ctx):
        await ctx.until(
            lambda: any(r.values["pulse_bpm"] == 96 for r in ctx.of(Kind.SPO2)), "the last line"
        )
    rejects = [RejectReason.BAD_LENGTH] + [RejectReason.BAD_FORMAT] * bool(noisy)
    assert [r.reason for r in ctx.rejects] == [*rejects, RejectReason.BAD_LENGTH], ctx.rejects
    assert [r.values["pulse_bpm"] for r in ctx.of(Kind.SPO2)] == [97, 96]


async def test_a_monitor_that_never_prints_exc_is_told_from_cut_lines() -> None:
    """A firmware whose lines carry no `EXC=` (none of the public sources shows one; the
    Rad-8 capture's line without it) had every line counted as "a cut line". Still
    refused (without EXC= a sensor off reads as a sound line), but from the second such
    line in a row ending at the same field it says what it sees; two cut lines cut at
    different places stay cut lines, and a whole line ends the run."""
    ctx = RecordingContext()
    no_exc = RAD8.replace(" EXC=000800", "").encode() + b"\r\n"
    cut_a = _cut(RAD8, "ALARM=0000") + b"\r\n"  # cut after ALARM=: the same end as no_exc
    cut_b = _cut(RAD8, "PIDELTA=+--") + b"\r\n"
    stream = cut_b + cut_a + RAD8.encode() + b"\r\n" + no_exc * 3
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.rejects) == 5, "five refused lines")
    reasons = [(r.reason, r.detail.split(":")[0]) for r in ctx.rejects]
    cut = (RejectReason.BAD_LENGTH, "line lacks EXC=")
    layout = (RejectReason.BAD_FORMAT, "no EXC= field")
    assert reasons == [cut, cut, cut, layout, layout], ctx.rejects
    assert "3 lines in a row end at ALARM=" in ctx.rejects[-1].detail
    assert len(ctx.of(Kind.SPO2)) == 1


async def test_cut_lines_ending_in_the_same_field_stay_cut_lines() -> None:
    """Cable cuts fall anywhere: two in a row inside the same field (here ALARM=) are
    lines of different lengths, not a monitor's layout. Before, lines ending at the same
    last field were said to be "no EXC= field ... not cut lines" from the second on (one
    pair in seven of the Rad-8 line's cuts without EXC=), hiding a cable fault behind a
    firmware one. A monitor's own lines without EXC= are alike: still told as such."""
    ctx = RecordingContext()
    cuts = [_cut(RAD8, end) + b"\r\n" for end in ("ALARM=00", "ALARM=0000 EX", "ALARM=000")]
    no_exc = RAD8.replace(" EXC=000800", "").encode() + b"\r\n"
    stream = RAD8.encode() + b"\r\n" + b"".join(cuts) + no_exc * 2
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.rejects) == 5, "five refused lines")
    reasons = [(r.reason, r.detail.split(":")[0]) for r in ctx.rejects]
    cut = (RejectReason.BAD_LENGTH, "line lacks EXC=")
    layout = (RejectReason.BAD_FORMAT, "no EXC= field")
    assert reasons == [cut, cut, cut, cut, layout], ctx.rejects


async def test_an_exc_one_digit_wider_than_the_monitor_prints_is_no_reading() -> None:
    """A Rad-8 with its sensor off (6-digit EXC), one line carrying a byte twice (line
    noise: `EXC=0008200`, the last `0` doubled: 0x8200, the SET bit 0x800 moved up to
    0x8000, unrecognized cable): that line is a `bad_length` reject, not a probe off
    with the wrong cause, and the sound lines around it all read. Before, it read (as an
    unrecognized cable), set the connection's width to 7, and the next sound line was
    refused as a cut one."""
    ctx = RecordingContext()
    noisy = RAD8_OFF.replace("EXC=000820", "EXC=0008200")
    stream = "".join(x + "\r\n" for x in (RAD8_OFF, noisy, RAD8_OFF, RAD8_OFF)).encode()
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 3, "the three sound lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects
    assert "a byte too many" in ctx.rejects[0].detail
    assert [r.contact for r in ctx.of(Kind.SPO2)] == [False, False, False]


async def test_a_monitor_printing_wider_is_read_from_its_second_line() -> None:
    """A Rad-8's line (6-digit EXC), then a Root's (7 digits, the public capture) on the
    same connection, as a monitor swapped on the cable: the first wider line is taken
    for noise, the second in a row is the monitor's width and reads, and so on."""
    ctx = RecordingContext()
    stream = "".join(x + "\r\n" for x in (RAD8, ROOT, ROOT, ROOT)).encode()
    async with first_bytes(stream, ctx):
        await ctx.until(lambda: len(ctx.of(Kind.SPO2)) == 3, "three of the four lines")
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH], ctx.rejects
