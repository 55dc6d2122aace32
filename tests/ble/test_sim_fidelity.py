"""The BLE simulators send what the real devices send (the project rule: simulators are
used by the demo and most end-to-end tests, so a simulator that a decoder accepts but a
real device would never send proves nothing).

Each simulator runs as a real bumble GATT peripheral on the virtual link; the daemon's BLE
link connects, subscribes and hands every notification/indication to a tap (the one
`monitord capture` uses) before any decoder sees it. Those raw values are compared with
the public recordings in tests/ble/test_beurer_captures.py, test_decoders.py and
test_public_captures.py: byte for byte where the same values were recorded, else field
by field against the recording's layout (flags, widths, byte order). The PLX oximeter has
no public recording (docs/devices.md): it is checked against the spec's layout only.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.drivers.tap import Direction
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import (
    SimCuff,
    SimOximeter,
    SimStrap,
    VirtualBleLink,
    attach_simulated,
    backends,
)
from monitord.simulators.ble.beurer import ADVERTISED_NAME, BeurerCuff
from tests.kit import RecordingContext, device_config

from .helpers import wait_until
from .test_beurer_captures import BM85, h
from .test_decoders import BPM_CAPTURES as BP_CAPTURES
from .test_decoders import HRM_CAPTURES
from .test_public_captures import H7_README, STRAPS

FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.01)


class RawTap:
    """What the device put on the air, per characteristic (16-bit UUID), in order."""

    def __init__(self) -> None:
        self.values: list[tuple[int, bytes]] = []

    def connected(self, name: str | None, address: str) -> None:
        pass

    def chunk(self, direction: Direction, data: bytes, char: str | None = None) -> None:
        if direction == "rx" and char is not None:
            self.values.append((int(char[4:8], 16), data))

    def disconnected(self, reason: str) -> None:
        pass

    def of(self, uuid16: int) -> list[bytes]:
        return [v for u, v in self.values if u == uuid16]


async def on_the_air(
    sim: SimCuff | SimStrap | SimOximeter, driver: str, play: Callable[[RawTap], Awaitable[None]]
) -> RawTap:
    """Run the daemon's BLE link against `sim` (not yet entered) with a raw tap; `play`
    sends events once the link is up (subscribed) and waits for what it needs."""
    tap = RawTap()
    ctx = RecordingContext(device="d")
    async with sim:
        client, scanner = backends(sim.link)
        dev = device_config(id="d", driver=driver, address=sim.address_str)
        task = asyncio.create_task(
            run_ble_device(
                dev, DRIVERS[driver], ctx, client_backend=client, scanner_backend=scanner,
                timing=FAST, rng=random.Random(1), tap=tap,
            )
        )  # fmt: skip
        try:
            await wait_until(lambda: ctx.link_up, what="link up")
            await play(tap)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return tap


def bp(sys_: float, dia: float, pulse: float, map_: float | None = None) -> SimEvent:
    return SimEvent(
        Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": map_, "pulse_bpm": pulse}
    )


async def test_bm85_simulator_sends_the_recorded_indications() -> None:
    """For the values of three recorded BM85 indications (both users, the irregular-pulse
    status), the simulated BM85's indications are the recorded bytes, also when the
    measurement did not fall on a whole minute: the BM85's clock counts minutes (the
    seconds byte is 00 in every recording)."""
    rows = [BM85[0], BM85[1], BM85[3]]
    cuff = BeurerCuff(ADVERTISED_NAME, VirtualBleLink())

    async def play(tap: RawTap) -> None:
        for _, _, want in rows:
            cuff.user_id = want["user_id"]
            cuff.irregular_pulse = "irregular_pulse" in want["status"]
            at = datetime.fromisoformat(want["measured_at"]).replace(second=37)
            await cuff.send(bp(want["sys_mmHg"], want["dia_mmHg"], want["pulse_bpm"]), at)
        await wait_until(lambda: len(tap.of(0x2A35)) == len(rows), what="indications")

    tap = await on_the_air(cuff, "ble-bpm", play)
    assert [v.hex(" ").upper() for v in tap.of(0x2A35)] == [r[1] for r in rows]


async def test_a_simulated_cuff_named_beurer_bm85_sends_what_a_bm85_sends() -> None:
    """A `ble-bpm` device configured with `simulate` and the name the real cuff
    advertises, "Beurer BM85", is simulated as a BM85: its indication for a recorded
    measurement's values is the recorded 19 bytes. Before, the name got the generic
    cuff (18 standard bytes), while the daemon, picking the BM85's quirks by that name,
    read them as a BM85's: the pulse dropped as `length_mismatch`."""
    dev = device_config(id="bp", driver="ble-bpm", name=ADVERTISED_NAME, simulate="s.jsonl")
    sim, _ = attach_simulated(dev, "chair-1", VirtualBleLink())
    assert isinstance(sim, SimCuff)
    _, hexdata, want = BM85[0]  # user 0, no irregular pulse: the simulator's defaults

    async def play(tap: RawTap) -> None:
        at = datetime.fromisoformat(want["measured_at"])
        await sim.send(bp(want["sys_mmHg"], want["dia_mmHg"], want["pulse_bpm"]), at)
        await wait_until(lambda: tap.of(0x2A35), what="indication")

    tap = await on_the_air(sim, "ble-bpm", play)
    assert [v.hex(" ").upper() for v in tap.of(0x2A35)] == [hexdata]


async def test_standard_cuff_simulator_sends_the_recorded_indication() -> None:
    """The generic cuff's 0x2A35 indication for the public standard capture's values is
    that capture byte for byte (flags 0x16: timestamp, pulse, status; status 0); its
    Intermediate Cuff Pressure notifications (no public recording) have the spec's
    layout: flags 0, the pressure, then diastolic and MAP as NaN."""
    source, hexdata, want = BP_CAPTURES[-1]
    assert want["map_mmHg"] == 97.0, source  # the 124/86 MAP 97 capture
    # A cuff error (a scenario's `error: true`) is the recorded "Err" and "Err CUF"
    # indications byte for byte (derdilla/blood-pressure-monitor-fl issue #80: every value
    # NaN, status 0).
    errors = [c for c in BP_CAPTURES if "cuff_error" in c[2]["status"]]
    assert len(errors) == 2, BP_CAPTURES
    cuff = SimCuff("Cuff", VirtualBleLink())
    at = datetime(2024, 6, 15, 17, 17, 27, tzinfo=UTC)

    async def play(tap: RawTap) -> None:
        await cuff.send(bp(124, 86, 51, 97), at)
        for _, _, err in errors:
            await cuff.send(
                SimEvent(Kind.BP, {}, error=True), datetime.fromisoformat(err["measured_at"])
            )
        await wait_until(lambda: len(tap.of(0x2A35)) == 3, what="indications")

    tap = await on_the_air(cuff, "ble-bpm", play)
    assert tap.of(0x2A35) == [h(hexdata), *(h(e[1]) for e in errors)]
    icp = tap.of(0x2A36)
    assert icp, "no cuff pressure while measuring"
    for v in icp:
        flags, _, dia, map_ = struct.unpack("<BHHH", v)
        assert (len(v), flags, dia, map_) == (7, 0x00, 0x07FF, 0x07FF), v.hex(" ")


async def test_strap_simulator_sends_what_a_polar_h7_sends() -> None:
    """A Polar H7's first notification after subscribing has no RR interval yet (flags
    0x06, the README's `[6, 82]`); then every one is flags 0x16 (contact detected, RR
    present), a uint8 rate and uint16 RR intervals, as the recorded ones."""
    strap = SimStrap("Strap", VirtualBleLink())
    rates = [r[2]["hr_bpm"] for r in STRAPS if r[0] == H7_README]  # 82, 84, 86, 86

    async def play(tap: RawTap) -> None:
        for hr in rates:
            await strap.send(SimEvent(Kind.HR, {"hr_bpm": hr}, contact=True), datetime.now(UTC))
        await wait_until(lambda: len(tap.of(0x2A37)) == len(rates), what="notifications")

    tap = await on_the_air(strap, "ble-hrm", play)
    got = tap.of(0x2A37)
    first = bytes(STRAPS[0][1])
    assert got[0] == first, (got[0].hex(" "), first.hex(" "))
    recorded = [bytes(r[1]) for r in STRAPS[1:4]] + [h(x[1]) for x in HRM_CAPTURES]
    for v in [*got[1:], *recorded]:  # the recordings pass the same check as the simulator
        assert v[0] == 0x16 and len(v) >= 4 and len(v) % 2 == 0, v.hex(" ")
    assert [v[1] for v in got] == rates


async def test_oximeter_simulator_sends_the_spec_layout() -> None:
    """No public recording of a BLE PLX oximeter exists (docs/devices.md): the continuous
    measurement (0x2A5F) is checked against the spec only: flags 0x08 (device and sensor
    status present), SpO2 and pulse as SFLOAT, a 24-bit status; probe off sets sensor
    disconnected and unconnected to user, with both values NaN."""
    ox = SimOximeter("Ox", VirtualBleLink())

    async def play(tap: RawTap) -> None:
        await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}), datetime.now(UTC))
        await ox.send(SimEvent(Kind.SPO2, {}, contact=False), datetime.now(UTC))
        await wait_until(lambda: len(tap.of(0x2A5F)) == 2, what="notifications")

    tap = await on_the_air(ox, "ble-plx", play)
    on, off = tap.of(0x2A5F)
    assert on == bytes.fromhex("08 6100 4800 000000")
    assert off == bytes.fromhex("08 FF07 FF07 008800")


async def test_cuff_simulator_pushes_its_memory_oldest_first() -> None:
    """The simulated cuff keeps the order of a cuff's memory (simulators/ble/devices.py:
    "oldest first (device-time order ...)"): the old records it is given, in any order,
    go on the air by device time, oldest first, and a measurement taken while nobody was
    connected comes last. The hub takes a burst's last record as the live one
    (monitord/history.py), so the daemon tests built on this simulator rely on that
    order. Before, a memory pushed newest-old first went unnoticed (the new measurement
    still came last)."""
    from monitord.drivers.ble_bpm import BloodPressure, decode_bp

    day = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    memory = [
        (bp(190, 115, 88), day.replace(day=27)),
        (bp(120, 80, 70), day.replace(day=25)),
        (bp(131, 84, 72), day.replace(day=29)),
    ]
    cuff = SimCuff("Cuff", VirtualBleLink(), memory=memory)

    async def play(tap: RawTap) -> None:
        await wait_until(lambda: len(tap.of(0x2A35)) == 3, what="memory pushed")
        await cuff.send(bp(212, 124, 90), day)
        await wait_until(lambda: len(tap.of(0x2A35)) == 4, what="the new measurement")

    tap = await on_the_air(cuff, "ble-bpm", play)
    got = [decode_bp(v) for v in tap.of(0x2A35)]
    assert all(isinstance(g, BloodPressure) for g in got), got
    pairs = [(g.sys_mmHg, g.measured_at) for g in got if isinstance(g, BloodPressure)]
    assert pairs == [
        (120, day.replace(day=25)),
        (190, day.replace(day=27)),
        (131, day.replace(day=29)),
        (212, day),
    ]
