"""The serial simulators send what the real devices send (the project rule: the demo and
most end-to-end tests run on them, so a simulator only a lenient decoder accepts proves
nothing).

Each simulator runs on a real pty and the bytes are read off the slave end as a serial
port would deliver them, before any decoder. They are checked against the evidence
docs/devices.md cites: the Masimo lines against the layout of the public Rad-8 captures
(tests/serial/test_masimo_captures.py), the Nonin packet byte for byte against the
independent implementation's packet (tests/serial/test_serial_nonin_decode.py), the
Contec packets against the independent reader's packet fields and the driver's in-step
rule. The IntelliVue simulator answers polls and is checked by the dialog tests
(spec and independent implementations only, no public capture).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from test_masimo_captures import CAPTURES, DATACAPTURE, RAD8_OFF, ROOT
from test_serial_nonin_decode import PUFFERFISH

from monitord.drivers import contec_cms50 as C
from monitord.drivers import nonin2 as N
from monitord.drivers.base import Reject
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent
from monitord.simulators.contec_cms50 import Cms50Sim
from monitord.simulators.masimo import MasimoSim
from monitord.simulators.masimo import line as masimo_line
from monitord.simulators.nonin import NoninSim
from monitord.simulators.serial_sims import SIMULATED


async def off_the_pty(sim: SerialSim, events: list[SimEvent], enough: int | bytes) -> bytes:
    """Send `events` to `sim` (entered, repeat off) and read from its pty's slave end, as
    the daemon's serial port would, at least `enough` bytes (an int) or until the bytes
    end with `enough`."""
    fd = os.open(sim.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    got = bytearray()
    try:
        at = datetime(2016, 2, 22, 22, 47, 45, tzinfo=UTC)
        for ev in events:
            await sim.send(ev, at)
        for _ in range(500):
            try:
                got += os.read(fd, 65536)
            except BlockingIOError:
                pass
            if len(got) >= enough if isinstance(enough, int) else got.endswith(enough):
                break
            await asyncio.sleep(0.01)
    finally:
        os.close(fd)
    assert len(got) >= enough if isinstance(enough, int) else got.endswith(enough), got
    return bytes(got)


# Each serial simulator's check here against its device's evidence (docs/devices.md), or
# where it is checked instead and why.
CHECKED = {
    "masimo-ascii": "test_masimo_simulator_sends_rad8_lines",
    "nonin-2": "test_nonin_simulator_sends_the_oem3_packet",
    "contec-cms50": "test_contec_simulator_packets_lock_within_the_first_second",
    "intellivue": "elsewhere: it answers polls, checked by the dialog tests "
    "(tests/serial/test_serial_intellivue_decode.py; spec and independent implementations, "
    "no public capture)",
}


def test_every_serial_simulator_is_checked() -> None:
    """A serial driver added with a simulator and left out here would run the demo and the
    end-to-end tests on bytes no test held against the real device's."""
    assert set(CHECKED) == set(SIMULATED), (
        "add a test holding the new simulator's bytes against its device's evidence and name "
        f"it in CHECKED; simulated serial drivers: {sorted(SIMULATED)}"
    )
    here = globals()
    for name, test in CHECKED.items():
        assert test.startswith("elsewhere: ") or callable(here.get(test)), (name, test)


def spo2(value: float, pulse: float) -> SimEvent:
    return SimEvent(Kind.SPO2, {"spo2_pct": value, "pulse_bpm": pulse})


# The layout of a Rad-8's ASCII 1 line as the public captures have it: field order,
# widths, zero padding, single spaces, a 10-digit serial, 4-hex ALARM, 6-hex EXC, CR LF
# and no NUL (those are the Radical-7's). `---` only where the device has no number (a
# sensor off still prints its numbers); PI `--.--` with the sensor off (the Rad-8
# sensor-off capture).
RAD8_LINE = re.compile(
    rb"\d\d/\d\d/\d\d \d\d:\d\d:\d\d SN=\d{10} SPO2=(\d{3}|---)% BPM=(\d{3}|---) "
    rb"PI=(\d\d\.\d\d|--\.--)% SPCO=--\.-% SPMET=--\.-% DESAT=-- PIDELTA=\+-- "
    rb"ALARM=[0-9A-F]{4} EXC=[0-9A-F]{6}\r\n"
)


def test_rad8_layout_is_the_captures() -> None:
    """The pattern is the captures', not invented: every public Rad-8 line of the full
    layout fits it (the Radical-7 line, the abbreviated no-sensor comment and the Masimo
    Root's lines do not)."""
    rad8 = [c[1] for c in CAPTURES if c[0] not in (DATACAPTURE, ROOT)]
    assert len(rad8) == 8
    assert all(RAD8_LINE.fullmatch(x.encode() + b"\r\n") for x in rad8)


async def test_masimo_simulator_sends_rad8_lines() -> None:
    """A reading and a probe off, off the pty. The probe off is the Rad-8 sensor-off
    capture (RAD8_OFF) but for the clock, the serial number and the numbers, which are
    the event's: the numbers still printed, `PI=--.--%`, `ALARM=0010` (the monitor's alarm
    sounding), `EXC=000824` (sensor off, low perfusion, SET). Before, the simulator sent
    `SPO2=---% BPM=--- ... ALARM=0000 EXC=000820`, which no Rad-8 was seen to send: no
    test built on it sent a sensor-off line with numbers for the decoder to drop."""
    async with MasimoSim(repeat=False) as sim:
        raw = await off_the_pty(
            sim,
            [spo2(98, 97), SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 101}, contact=False)],
            b"EXC=000824\r\n",
        )
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == 3, raw  # every line ends CR LF
    normal, off = (x + b"\r\n" for x in lines[:2])
    assert RAD8_LINE.fullmatch(normal) and RAD8_LINE.fullmatch(off), raw
    assert normal.startswith(b"02/22/16 22:47:45 ") and b"SPO2=098% BPM=097 " in normal
    assert normal.endswith(b" PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- "
                           b"ALARM=0000 EXC=000800\r\n"), normal  # fmt: skip
    (capture,) = [c[1] for c in CAPTURES if c[0] == RAD8_OFF]
    as_captured = (
        capture.replace("05/20/21 14:06:02", "02/22/16 22:47:45").replace(
            "SN=0000182948", "SN=0000000001"
        )
        + "\r\n"
    )
    assert off == as_captured.encode(), (off, as_captured)


def test_masimo_probe_off_line_is_the_rad8_capture() -> None:
    """Given the capture's clock, serial number and numbers, the simulator's probe-off
    line is the public Rad-8 sensor-off line byte for byte."""
    (capture,) = [c[1] for c in CAPTURES if c[0] == RAD8_OFF]
    at = datetime(2021, 5, 20, 14, 6, 2, tzinfo=UTC)
    off = SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 101}, contact=False)
    assert masimo_line(off, at, serial_no=182948) == capture.encode() + b"\r\n"


class _TimedMasimo(MasimoSim):
    """The Masimo simulator, noting when each output left it (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__(repeat=True)
        self.written: list[float] = []

    def write(self, data: bytes) -> None:
        self.written.append(time.monotonic())
        super().write(data)


async def test_masimo_simulator_writes_one_line_a_second_like_a_rad8() -> None:
    """A Rad-8 writes one ASCII 1 line a second with its latest numbers (the format's
    cadence; consecutive lines of the public captures are a second apart). With its own
    cadence on (`repeat=True`, `monitord simulate`), the simulator wrote a line for every
    event besides its periodic one: three events within a second were three lines, and an
    event just after a periodic line a second line within milliseconds. Now the first
    event goes out at once, one coming within a second of a line waits for the next,
    which carries the latest numbers: B, replaced within the second by C, is never a
    line, and no two lines are less than a second apart."""
    sim = _TimedMasimo()
    async with sim:
        fd = os.open(sim.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        raw = bytearray()

        async def read_until(done: Callable[[list[bytes]], bool]) -> list[bytes]:
            lines: list[bytes] = []
            for _ in range(500):
                with contextlib.suppress(BlockingIOError):
                    raw.extend(os.read(fd, 65536))
                lines = bytes(raw).split(b"\r\n")[:-1]
                if lines and done(lines):
                    break
                await asyncio.sleep(0.01)
            return lines

        try:
            at = datetime(2016, 2, 22, 22, 47, 45, tzinfo=UTC)
            for value in (91, 92, 93):  # A, B, C within the same instant
                await sim.send(spo2(value, 70), at)
            await read_until(lambda lines: len(lines) >= 2)  # A at once, the next second's
            await sim.send(spo2(94, 70), at)  # D, right after a periodic line
            got = await read_until(lambda lines: b"SPO2=094%" in lines[-1])
        finally:
            os.close(fd)
    values = [int(line.split(b"SPO2=")[1][:3]) for line in got]
    assert values[0] == 91 and 92 not in values and values[-1] == 94, values
    assert values[1] == 93, values  # the next line carries the latest numbers
    gaps = [b - a for a, b in zip(sim.written, sim.written[1:], strict=False)]
    assert all(g >= sim.period_s - 1e-3 for g in gaps), gaps


def frames(raw: bytes) -> list[bytes]:
    return [raw[i : i + N.FRAME_LEN] for i in range(0, len(raw), N.FRAME_LEN)]


def without_beat_bits(raw: bytes) -> bytes:
    """`raw` with the perfusion and artifact bits cleared (checksums recomputed)."""
    out = bytearray(raw)
    for k in range(0, len(out), N.FRAME_LEN):
        out[k + 1] &= ~(N.ST_RPRF | N.ST_GPRF | N.ST_ARTF) & 0xFF
        out[k + 4] = N.checksum(out[k : k + 4])
    return bytes(out)


async def test_nonin_simulator_sends_the_oem3_packet() -> None:
    """72 bpm / 97 % is the independent implementation's packet byte for byte (its
    test packet has no status bits) once the beat's bits are left aside: every frame it
    fills (firmware revision, display and extended averages), not only the three the
    driver reads. The stream starts on a beat: green perfusion in frames 1-12 (160 ms,
    Oxford IBME's `NoninFrame`), none after. Probe off (the finger out, the sensor still
    plugged in): SNSA in every frame, not SNSD (the sensor unplugged), every value
    missing, no beat (drivers/nonin2.py: SNSA "set when the finger is removed")."""
    packet_len = N.FRAME_LEN * N.FRAMES_PER_PACKET
    async with NoninSim(repeat=False) as sim:
        raw = await off_the_pty(sim, [spo2(97, 72)], packet_len)
    assert without_beat_bits(raw) == PUFFERFISH, [f.hex() for f in frames(raw)]
    beat = [f[1] & (N.ST_RPRF | N.ST_GPRF | N.ST_ARTF) for f in frames(raw)]
    assert beat == [N.ST_GPRF] * 12 + [0] * 13, beat
    async with NoninSim(repeat=False) as sim:
        raw = await off_the_pty(sim, [SimEvent(Kind.SPO2, {}, contact=False)], packet_len)
    fs = frames(raw)
    assert all(f[1] & N.ST_SNSA and f[4] == N.checksum(f[:4]) for f in fs)
    assert not any(f[1] & N.ST_SNSD for f in fs)
    assert not any(f[1] & (N.ST_RPRF | N.ST_GPRF | N.ST_ARTF) for f in fs)
    data = {i + 1: f[3] for i, f in enumerate(fs)}
    hr_frames = [(1, 2), (14, 15), (20, 21), (22, 23)]
    assert all((data[m] << 7 | data[lo]) == N.HR_MISSING for m, lo in hr_frames), data
    assert all(data[k] == N.SPO2_MISSING for k in (3, 9, 10, 11, 16, 17)), data


async def test_nonin_simulator_holds_the_display_values_10_s_after_a_finger_out() -> None:
    """A finger out after a reading of 97 % / 72 bpm, packet after packet off the pty: the
    values formatted for recording (frames 1-3, 10, 11, 14-16) are missing at once; the
    ones formatted for display (SpO2-D frame 9, E-SpO2-D 17, HR-D 20-21, E-HR-D 22-23)
    keep 97 / 72 for 10 s of the device's frames (30 packets), then are missing too
    (Oxford IBME's `NoninPacket`: "stays at last value for 10 seconds after finger is
    removed"). Before, the display values went missing at once."""
    packet_len = N.FRAME_LEN * N.FRAMES_PER_PACKET
    out = SimEvent(Kind.SPO2, {}, contact=False)
    packets: list[dict[int, int]] = []
    async with NoninSim(repeat=False) as sim:
        for ev in [spo2(97, 72)] + [out] * 31:
            raw = await off_the_pty(sim, [ev], packet_len)
            packets.append({i + 1: f[3] for i, f in enumerate(frames(raw))})

    def hr(data: dict[int, int], msb: int) -> int:
        return data[msb] << 7 | data[msb + 1]

    for k, data in enumerate(packets[1:]):
        assert [hr(data, m) for m in (1, 14)] == [N.HR_MISSING] * 2, (k, data)
        assert [data[f] for f in (3, 10, 11, 16)] == [N.SPO2_MISSING] * 4, (k, data)
        held = k < 30  # 30 packets of 25 frames: 10 s at 75 frames a second
        assert [hr(data, m) for m in (20, 22)] == [72 if held else N.HR_MISSING] * 2, k
        assert [data[f] for f in (9, 17)] == [97 if held else N.SPO2_MISSING] * 2, k


async def test_contec_simulator_packets_lock_within_the_first_second() -> None:
    """A second of the simulator's packets, off the pty: every packet has bit 7 on its
    first byte only; SpO2 and pulse repeat in every packet while the pleth wave moves
    and the beep marks the beats (72 bpm: 1.2 beats a second); the driver's reader and
    5-packet in-step rule (`PacketLock`) count a packet by the 5th of the first second,
    with nothing rejected."""
    second = C.PACKET_LEN * C.PACKETS_PER_S
    async with Cms50Sim(repeat=False) as sim:
        raw = await off_the_pty(sim, [spo2(97, 72)], second)
    packets = [raw[i : i + C.PACKET_LEN] for i in range(0, second, C.PACKET_LEN)]
    assert all(p[0] & 0x80 and not any(b & 0x80 for b in p[1:]) for p in packets)
    assert {(p[2] & 0x40) << 1 | p[3] for p in packets} == {72}
    assert {p[4] for p in packets} == {97}
    assert len({p[1] for p in packets}) > 10, "a flat pleth: no pulse wave"
    assert sum(1 for p in packets if p[0] & C.B1_BEEP) in (1, 2)
    reader, lock = C.PacketReader(), C.PacketLock()
    taken = [lock.take(item) for item in [*reader.feed(raw), *reader.end()]]
    assert not any(isinstance(t, Reject) for t in taken), taken
    first = next(i for i, t in enumerate(taken) if t is not None)
    assert first + 1 == C.LOCK_PACKETS and len(taken) == C.PACKETS_PER_S
