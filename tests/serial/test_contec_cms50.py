"""Contec CMS50D+ live packets: the test table (packets built by hand from the layout in
drivers/contec_cms50.py, after atbrask/CMS50Dplus and the Apnea Board wiki; no public
capture was found), the packet reader's resync, the decode profile, and the device end to
end: simulator -> pty -> serial transport (19200 8O1) -> protocol -> readings."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serial_testkit import RecordingContext, play_simulated_oximeter

from monitord.drivers import contec_cms50 as C
from monitord.drivers.base import LinkLost, Measurement, Reject, RejectReason
from monitord.drivers.registry import DRIVERS, PROFILES
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.contec_cms50 import Cms50Sim
from tests.kit import device_config

OK = {"status": [], "contact": True, "valid": True, "measured_at": None}
OFF = {"spo2_pct": None, "pulse_bpm": None, "contact": False, "valid": False, "measured_at": None}

# byte 1: sync|beep|drop|finger-out|strength; 2: pleth; 3: P7|search|probe-error|bar graph;
# 4: pulse bits 6-0; 5: SpO2
CASES = [
    ("spo2 97 pulse 72", "8840084861", {"spo2_pct": 97, "pulse_bpm": 72, **OK}),
    # pulse 200 = 0b1100_1000: bit 7 in byte 3 (0x40), bits 6-0 in byte 4 (0x48)
    ("pulse 200 (8 bits)", "8840484860", {"spo2_pct": 96, "pulse_bpm": 200, **OK}),
    ("beep on a beat is no flag", "c840084861", {"spo2_pct": 97, "pulse_bpm": 72, **OK}),
    ("finger out", "9000000000", {**OFF, "status": ["probe_off"]}),
    ("probe error", "8800104861", {**OFF, "status": ["probe_off", "probe_error"]}),
    (
        "searching: numbers not settled",
        "8840284861",
        {"spo2_pct": 97, "pulse_bpm": 72, "status": ["pulse_search"], "contact": True}
        | {"valid": False, "measured_at": None},
    ),
    (
        "spo2 dropping is a quality flag",
        "a840085e5a",
        {"spo2_pct": 90, "pulse_bpm": 94, **OK, "status": ["spo2_dropping"]},
    ),
    (
        "spo2 127 is no value",
        "884048487f",
        {"spo2_pct": None, "pulse_bpm": 200, "status": []}
        | {"contact": True, "valid": False, "measured_at": None},
    ),
    (
        "pulse 255 is no value",
        "8840487f61",
        {"spo2_pct": 97, "pulse_bpm": None, **OK},
    ),
]


@pytest.mark.parametrize(("name", "hexdata", "expected"), CASES, ids=[c[0] for c in CASES])
def test_packet_table(name: str, hexdata: str, expected: dict[str, object]) -> None:
    assert PROFILES["contec-cms50"].decode(bytes.fromhex(hexdata)) == [expected], name


# Numbers the device does not send. Sources: the packet's fields give 8 bits of pulse
# (byte 3 bit 6 over byte 4's 7 bits) and 7 bits of SpO2 (atbrask/CMS50Dplus
# `LiveDataPoint`; the Apnea Board wiki "Contec CMS50X Data Format"), so 0..255 and
# 0..127 fit the packet; the CMS50D+'s pulse range ends at 250 bpm and SpO2 is a
# percentage. No source names a no-value marker (atbrask, nonspecialist/cms-p,
# Yujia-Yan/CMS50SerialProtocolKit and OSCAR's cms50_loader pass the fields on raw): the
# all-ones 127 and 255, like 0, are taken as "no value" (the table above), every other
# number out of range is an `implausible_value` reject, never a reading.
IMPLAUSIBLE = [
    ("pulse 251", 97, 251),
    ("pulse 252", 97, 252),
    ("pulse 253", 97, 253),
    ("pulse 254", 97, 254),
    ("spo2 101", 101, 72),
    ("spo2 126", 126, 72),
]


@pytest.mark.parametrize(("name", "spo2", "pulse"), IMPLAUSIBLE, ids=[c[0] for c in IMPLAUSIBLE])
async def test_an_impossible_number_is_a_counted_reject_also_in_step(
    name: str, spo2: int, pulse: int, ctx: RecordingContext
) -> None:
    bad = C.make_packet(spo2, pulse)
    out = C.decode_hex_packets(bad)
    assert isinstance(out, Reject) and out.reason is RejectReason.IMPLAUSIBLE, (name, out)
    # In step (LOCK_PACKETS good packets), then a second of the impossible number, then
    # good again: each bad packet is counted, none is a reading (before, the lock let
    # them through and the second's reading carried the number), and the lock holds.
    good = C.make_packet(97, 72)
    stream = good * C.LOCK_PACKETS + bad * C.PACKETS_PER_S + good * C.PACKETS_PER_S
    stream += good[:1]  # a packet is whole when the next one starts
    link = _Bytes([stream[i : i + 41] for i in range(0, len(stream), 41)])
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(link, ctx)
    assert [r.reason for r in ctx.rejects] == [RejectReason.IMPLAUSIBLE] * C.PACKETS_PER_S
    assert {(r.values["spo2_pct"], r.values["pulse_bpm"]) for r in ctx.of(Kind.SPO2)} == {(97, 72)}
    assert link.heard_count == 1 + C.PACKETS_PER_S


def test_simulator_packets_decode_to_what_they_carry() -> None:
    assert C.decode_hex_packets(C.make_packet(97, 72)) == [{"spo2_pct": 97, "pulse_bpm": 72, **OK}]
    assert C.decode_hex_packets(C.make_packet(95, 200)) == [
        {"spo2_pct": 95, "pulse_bpm": 200, **OK}
    ]
    off = C.decode_hex_packets(C.make_packet(None, None, finger_out=True))
    assert off == [{**OFF, "status": ["probe_off"]}]


def test_reader_resyncs_after_noise_and_a_cut_packet() -> None:
    good = C.make_packet(97, 72)
    # noise without bit 7, a whole packet, a packet cut after 3 bytes, a whole packet:
    # the noise and the cut packet are counted once each, the whole ones decode
    stream = b"\x01\x02\x03" + good + good[:3] + good
    for step in (1, 2, 7, len(stream)):
        reader = C.PacketReader()
        out: list[C.Packet | Reject] = []
        for i in range(0, len(stream), step):
            out += reader.feed(stream[i : i + step])
        out += reader.end()  # the last packet is whole: the input ends after it
        reasons = [o.reason for o in out if isinstance(o, Reject)]
        assert reasons == [RejectReason.NOISE, RejectReason.BAD_LENGTH], step
        packets = [o for o in out if isinstance(o, C.Packet)]
        assert [p.spo2 for p in packets] == [97, 97]
        assert all(isinstance(C.decode_packet(p), Measurement) for p in packets)


def test_profile_rejects() -> None:
    out = C.decode_hex_packets(bytes.fromhex("88400848"))
    assert isinstance(out, Reject) and out.reason is RejectReason.BAD_LENGTH
    out = C.decode_hex_packets(bytes.fromhex("0840084861"))  # no packet start
    assert isinstance(out, Reject) and out.reason is RejectReason.BAD_FORMAT


def test_descriptor_line_settings() -> None:
    d = DRIVERS["contec-cms50"]
    assert d.serial is not None and (d.serial.baudrate, d.serial.parity) == (19200, "O")


class _Bytes:
    """A ByteLink over chunks already received (the protocol's view of a port)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.heard_count = 0

    async def read(self) -> bytes:
        if not self._chunks:
            raise LinkLost("end of test data")
        return self._chunks.pop(0)

    async def write(self, data: bytes) -> None:
        raise AssertionError("the CMS50 is listen-only")

    def heard(self) -> None:
        self.heard_count += 1


async def test_one_reading_per_second_of_packets_or_on_validity_change(
    ctx: RecordingContext,
) -> None:
    second = C.make_packet(97, 72) * C.PACKETS_PER_S
    off = C.make_packet(None, None, finger_out=True)
    # 2 s of packets in odd chunks, then the finger comes out for 3 packets, then back
    stream = second * 2 + off * 3 + second
    chunks = [stream[i : i + 37] for i in range(0, len(stream), 37)]
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(_Bytes(chunks), ctx)
    got = [(r.values["spo2_pct"], r.valid) for r in ctx.of(Kind.SPO2)]
    # in step from packet 5 (LOCK_PACKETS): packets 5 and 65 (each second's first in
    # step), 121 (finger out: validity changed), 124 (finger back: changed again) and 125
    # (a second after 5); not one per packet (183 packets)
    assert got == [(97, True), (97, True), (None, False), (97, True), (97, True)]
    assert ctx.rejects == []


async def test_stream_through_the_serial_transport(ctx: RecordingContext) -> None:
    async with Cms50Sim() as sim:
        # A Linux pty refuses odd parity once in raw mode (termios EINVAL): the device's
        # own line setting (the driver's default is 8O1) is overridden for the pty.
        dev = device_config(id="ox", driver="contec-cms50", port=sim.port, parity="N")
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["contec-cms50"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            now = datetime.now(UTC)
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 130}), now)
            await ctx.until(lambda: ctx.of(Kind.SPO2), "first reading")
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 91, "pulse_bpm": 131}), now)
            await ctx.until(lambda: ctx.of(Kind.SPO2)[-1].values["spo2_pct"] == 91, "new value")
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 91}, contact=False), now)
            await ctx.until(lambda: not ctx.of(Kind.SPO2)[-1].valid, "finger out")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    got = [(dict(r.values), r.valid, r.contact) for r in ctx.of(Kind.SPO2)]
    changes = [g for i, g in enumerate(got) if i == 0 or g != got[i - 1]]
    assert changes[0] == ({"spo2_pct": 96, "pulse_bpm": 130}, True, True)
    assert changes[-2:] == [
        ({"spo2_pct": 91, "pulse_bpm": 131}, True, True),
        ({"spo2_pct": None, "pulse_bpm": None}, False, False),
    ]
    assert ctx.rejects == [] and ctx.link_up


async def test_a_simulated_chair_plays_its_scenario(tmp_path: Path) -> None:
    got = await play_simulated_oximeter(
        tmp_path,
        "contec-cms50",
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}\n'
        + "".join(
            f'{{"t": {t}, "event": "spo2", "spo2": {s}, "pulse": 70}}\n'
            for t, s in ((5, 97), (10, 96), (15, 95))
        )
        + '{"t": 20, "event": "end"}\n',
    )
    assert got == [(97, True), (96, True), (95, True)]


# Three seconds of output, the numbers changing each second (as a scenario's samples).
_SECONDS = (97, 96, 95)


def _second(spo2: int) -> SimEvent:
    return SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": 70})


async def test_a_port_opened_while_a_second_streams_reads_each_second_and_the_last(
    ctx: RecordingContext,
) -> None:
    """The device streams its packets evenly; the simulator wrote each second at once.
    Here the daemon's port opens after three seconds were handed to a scenario chair's
    simulator (no repeats, nothing after them): a second's packets are still coming, so
    each second from the one streaming at the open is read once, in order, the last one
    too. Before, the three seconds were on the line before the open, whose flush dropped
    them: no reading at all (and a lock formed on a burst's last packet read each second
    a burst late and never the last one)."""
    async with Cms50Sim(repeat=False) as sim:
        for value in _SECONDS:
            await sim.send(_second(value), _now())
        dev = device_config(id="ox", driver="contec-cms50", port=sim.port, parity="N")
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["contec-cms50"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            await ctx.until(
                lambda: any(r.values["spo2_pct"] == _SECONDS[-1] for r in ctx.of(Kind.SPO2)),
                "the last second's reading",
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    got = [(r.values["spo2_pct"], r.valid) for r in ctx.of(Kind.SPO2)]
    # one reading per second, in order, from the one streaming at the open to the last
    assert got and got == [(v, True) for v in _SECONDS[_SECONDS.index(got[0][0]) :]], got
    assert ctx.rejects == [], ctx.rejects


async def test_a_scenario_played_fast_keeps_up_and_reads_its_last_second(
    ctx: RecordingContext,
) -> None:
    """Twenty seconds handed over at once (a scenario chair at a high `speed`): the line
    is not held to one second of packets per real second, which left the stream ever
    further behind the scenario (20 s for these, its queue growing without end); the rest
    of a second still streaming is written out when the next comes, and the last second
    streams at its pace and is read."""
    values = list(range(80, 100))
    async with Cms50Sim(repeat=False) as sim:
        dev = device_config(id="ox", driver="contec-cms50", port=sim.port, parity="N")
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["contec-cms50"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            # a first second read: the port is open and the reader in step
            while not ctx.of(Kind.SPO2):
                await sim.send(_second(79), _now())
                await asyncio.sleep(1.0)
            for value in values:
                await sim.send(_second(value), _now())
            await ctx.until(
                lambda: any(r.values["spo2_pct"] == values[-1] for r in ctx.of(Kind.SPO2)),
                "the last second's reading",
                limit_s=8.0,
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    got = [r.values["spo2_pct"] for r in ctx.of(Kind.SPO2) if r.values["spo2_pct"] != 79]
    assert got == values, got  # each second once, in order


class _Writes(_Bytes):
    """The simulator's writes, one per read, noting how many readings came before each."""

    def __init__(self, chunks: list[bytes], ctx: RecordingContext) -> None:
        super().__init__(chunks)
        self.ctx = ctx
        self.before: list[int] = []  # readings emitted before each chunk was read

    async def read(self) -> bytes:
        self.before.append(len(self.ctx.readings))
        return await super().read()


async def test_a_port_opened_between_any_two_writes_reads_each_second_from_its_own() -> None:
    """A port that opens between two of the simulator's writes (a write is never cut)
    gets each second's reading from that second's own writes, not from the next one's
    first packet, and so the last second's reading with nothing written after it (a
    scenario chair's last sample). Writes of 5 packets failed this for a port opened
    before a second's last write: the 5-packet lock formed on the second's last packet."""
    from monitord.simulators import contec_cms50 as S

    written = [(v, w) for v in _SECONDS for w in S.writes(_second(v))]
    per_second = len(written) // len(_SECONDS)
    for start in range(len(written)):  # the port opens before write `start`
        ctx = RecordingContext()
        link = _Writes([w for _, w in written[start:]], ctx)
        with pytest.raises(LinkLost):
            await C.Cms50Protocol().run(link, ctx)
        # each reading's second: that of the write after which it was emitted
        came = [
            written[start + i][0]
            for i in range(len(link.before) - 1)
            for _ in range(link.before[i + 1] - link.before[i])
        ]
        got = [r.values["spo2_pct"] for r in ctx.of(Kind.SPO2)]
        want = list(_SECONDS[start // per_second :])
        assert got == came == want, f"port opened before write {start}: {got=} {came=}"


_GOOD = C.make_packet(97, 72)  # 88 40 08 48 61
_SEARCH = C.make_packet(97, 72, searching=True)  # 88 40 28 48 61
# A packet with one byte too many (line noise: the packet has no checksum), in step: its
# fields shift by one, so the pulse byte (72) is read as SpO2. Before, a packet counted
# as soon as its 5th byte came and only the byte left over dropped the lock, one packet
# too late: the shifted packet was a reading when it fell on a second's reading slot,
# and at once when the shift made it valid during a pulse search (validity changed).
LONG_PACKETS = [
    (
        # 0x20 after byte 3: pulse 0x20 = 32, SpO2 0x48 = 72, on the 60th packet after
        # the lock (the second's reading)
        "on a second's reading slot",
        _GOOD,
        _GOOD * (C.LOCK_PACKETS + C.PACKETS_PER_S - 1) + _GOOD[:3] + b"\x20" + _GOOD[3:],
        (97, 72, True),
    ),
    (
        # 0x08 after the pleth byte: byte 3 loses the search bit, pulse 0x28 = 40,
        # SpO2 72 %: a valid reading in the middle of a pulse search
        "during a pulse search",
        _SEARCH,
        _SEARCH * (C.LOCK_PACKETS + 10) + _SEARCH[:2] + b"\x08" + _SEARCH[2:],
        (97, 72, False),
    ),
]


@pytest.mark.parametrize(
    ("name", "packet", "stream", "expected"), LONG_PACKETS, ids=[c[0] for c in LONG_PACKETS]
)
async def test_a_packet_with_a_byte_too_many_is_never_a_reading(
    name: str,
    packet: bytes,
    stream: bytes,
    expected: tuple[int, int, bool],
    ctx: RecordingContext,
) -> None:
    # then the device goes on; one more packet start closes the last packet
    stream += packet * (C.LOCK_PACKETS + C.PACKETS_PER_S) + packet[:1]
    link = _Bytes([stream[i : i + 23] for i in range(0, len(stream), 23)])
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(link, ctx)
    got = {(r.values["spo2_pct"], r.values["pulse_bpm"], r.valid) for r in ctx.of(Kind.SPO2)}
    assert got == {expected}, name
    # one reject: the byte out of place, which drops the packet it follows and the lock
    dropped = "right after a packet, which is dropped"
    assert [(r.reason, dropped in r.detail) for r in ctx.rejects] == [(RejectReason.NOISE, True)], (
        ctx.rejects
    )


async def test_random_bytes_are_never_heard_nor_a_reading(ctx: RecordingContext) -> None:
    # No checksum: random bytes fit the packet shape about 60 times a second, a tenth of
    # them with a valid-looking SpO2 (any number 1..100). They used to keep the link up
    # (heard) and reach the alert engine as valid readings.
    rng = random.Random(20240623)
    data = rng.randbytes(20 * 1920)  # 20 s of a 19200-baud line
    link = _Bytes([data[i : i + 97] for i in range(0, len(data), 97)])
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(link, ctx)
    assert (link.heard_count, len(ctx.readings)) == (0, 0)
    assert ctx.rejects  # the noise is counted


async def test_in_step_after_lock_packets_and_again_after_a_cut(ctx: RecordingContext) -> None:
    good = C.make_packet(97, 72)
    # a packet cut in the middle of the stream drops the lock: the next LOCK_PACKETS
    # packets take it again, the last of them is the first to count
    stream = good * C.LOCK_PACKETS + good[:2] + good * C.LOCK_PACKETS + good[:1]
    link = _Bytes([stream])
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(link, ctx)
    assert link.heard_count == 2
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_LENGTH]
    # packets whose numbers change every time never lock; an impossible SpO2 is a reject
    ctx.rejects.clear()
    changing = b"".join(C.make_packet(90 + i % 2, 72) for i in range(30))
    link = _Bytes([changing + C.make_packet(97, 72)[:4] + b"\x7a" + good[:1]])
    with pytest.raises(LinkLost):
        await C.Cms50Protocol().run(link, ctx)
    assert link.heard_count == 0
    assert [r.reason for r in ctx.rejects] == [RejectReason.IMPLAUSIBLE]


async def test_random_bytes_on_a_pty_are_a_lost_link_until_packets_come(
    ctx: RecordingContext,
) -> None:
    # A real pty and the real transport: 2 s of seeded random bytes at the line's rate,
    # then the device's packets. Before, the garbage brought the link up and gave
    # readings; now it is a lost link (undecodable data) and no reading.
    rng = random.Random(5)
    async with Cms50Sim(repeat=False) as sim:
        dev = device_config(
            id="ox", driver="contec-cms50", port=sim.port, parity="N", silence_s=0.5
        )
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["contec-cms50"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            for _ in range(40):
                sim.write(rng.randbytes(96))
                await asyncio.sleep(0.05)
            assert ctx.links and not any(up for up, _ in ctx.links), ctx.links
            assert "no data decoded" in ctx.links[0][1], ctx.links
            assert ctx.readings == [] and ctx.rejects
            for _ in range(50):  # the device (each send: a second of packets)
                await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 70}), _now())
                if ctx.link_up:
                    break
                await asyncio.sleep(0.2)
            await ctx.until(lambda: ctx.link_up and ctx.of(Kind.SPO2), "link up, reading")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert [up for up, _ in ctx.links] == [False, True]
    assert {(r.values["spo2_pct"], r.valid) for r in ctx.of(Kind.SPO2)} == {(96, True)}


def _now() -> datetime:
    return datetime.now(UTC)
