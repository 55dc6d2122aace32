"""One byte of line noise costs a streaming oximeter's link at most `one_lost_s` of
silence (drivers/base.py `SerialDefaults.resync_s`): the registry and `check-config` weigh
`silence_s` against that number, so it must be what the decoders really do. Each driver's
protocol reads its device's stream (one chunk per frame, packet or line, at the time its
last byte arrives) with one byte changed, dropped or added at every place of a unit; the
longest interval between two `heard()` (what keeps the link up) must be within it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from monitord.drivers import contec_cms50 as C
from monitord.drivers import masimo_ascii as M
from monitord.drivers import nonin2 as N
from monitord.drivers.base import LinkLost
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import line
from tests.kit import RecordingContext

Fault = Callable[[bytes, int], bytes]
FAULTS: dict[str, Fault] = {
    "bit 7 flipped": lambda u, i: u[:i] + bytes((u[i] ^ 0x80,)) + u[i + 1 :],
    "bits 0-6 flipped": lambda u, i: u[:i] + bytes((u[i] ^ 0x7F,)) + u[i + 1 :],
    "a line feed": lambda u, i: u[:i] + b"\n" + u[i + 1 :],
    "dropped": lambda u, i: u[:i] + u[i + 1 :],
    "one added": lambda u, i: u[:i] + b"\x00" + u[i:],
}


class _TimedLink:
    """The port as the protocol reads it: chunks, each at the line time it arrived."""

    def __init__(self, chunks: list[tuple[float, bytes]]) -> None:
        self._chunks = chunks
        self._now = 0.0
        self.heard_at: list[float] = []

    async def read(self) -> bytes:
        if not self._chunks:
            raise LinkLost("end of test data")
        self._now, data = self._chunks.pop(0)
        return data

    async def write(self, data: bytes) -> None:
        raise AssertionError("listen-only")

    def heard(self) -> None:
        self.heard_at.append(self._now)


def _streams() -> dict[str, tuple[list[bytes], float, range]]:
    """Per driver: its units (frames, packets, lines) in order, the time between two,
    and the units whose bytes the noise hits."""
    # Nonin: 75 frames a second, 25 to a packet; 12 packets, the noise in the 5th.
    nonin = [
        N.make_frame(N.ST_SYNC if i % N.FRAMES_PER_PACKET == 0 else 0, 50, d)
        for p in range(12)
        for i, d in enumerate([0, 72, 97, 0x20] + [0] * (N.FRAMES_PER_PACKET - 4))
    ]
    # CMS50: 60 packets a second, its numbers changing each second (the lock-in needs
    # 5 packets with the same numbers); the noise in each packet around a change.
    cms50 = [C.make_packet(97 - s % 2, 72 + s % 2) for s in range(3) for _ in range(60)]
    # Masimo: a line a second.
    at = datetime(2026, 12, 4, tzinfo=UTC)
    ev = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72})
    masimo = [line(ev, at) for _ in range(6)]
    return {
        "nonin-2": (nonin, 1 / 75, range(100, 125)),
        "contec-cms50": (cms50, 1 / 60, range(52, 66)),
        "masimo-ascii": (masimo, 1.0, range(2, 3)),
    }


_PROTOCOLS: dict[str, Callable[[], C.Cms50Protocol | M.MasimoProtocol | N.NoninProtocol]] = {
    "nonin-2": N.NoninProtocol,
    "contec-cms50": C.Cms50Protocol,
    "masimo-ascii": M.MasimoProtocol,
}


async def _longest_gap(driver: str, units: list[bytes], step: float) -> float:
    link = _TimedLink([((k + 1) * step, u) for k, u in enumerate(units)])
    with pytest.raises(LinkLost):
        await _PROTOCOLS[driver]().run(link, RecordingContext())
    heard = link.heard_at
    assert heard and heard[-1] >= len(units) * step - 1.0, "not back in step at the end"
    return max(b - a for a, b in itertools.pairwise(heard))


@pytest.mark.parametrize("driver", ["nonin-2", "contec-cms50", "masimo-ascii"])
async def test_one_noisy_byte_costs_at_most_one_lost_s(driver: str) -> None:
    units, step, hit = _streams()[driver]
    worst = (0.0, "")
    for k in hit:
        for i in range(len(units[k])):
            for name, fault in FAULTS.items():
                noisy = [*units[:k], fault(units[k], i), *units[k + 1 :]]
                gap = await _longest_gap(driver, noisy, step)
                worst = max(worst, (gap, f"unit {k} byte {i} {name}"))
    lost = DRIVERS[driver].one_lost_s
    assert lost is not None and worst[0] <= lost + 1e-9, (driver, worst, lost)
