"""One byte of line noise costs a streaming oximeter's link at most `one_lost_s` of
silence (drivers/base.py `SerialDefaults.resync_s`): the registry and `check-config` weigh
`silence_s` against that number, so it must be what the decoders really do. Each driver's
protocol reads its device's stream (one chunk per frame, packet or line, at the time its
last byte arrives) with one byte changed, dropped or added at every place of a unit; the
longest interval between two `heard()` (what keeps the link up) must be within it. The
polled IntelliVue likewise, its answers hit one at a time (its own test below)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from monitord.drivers import contec_cms50 as C
from monitord.drivers import intellivue as IV
from monitord.drivers import intellivue_frames as IF
from monitord.drivers import intellivue_poll as IVP
from monitord.drivers import masimo_ascii as M
from monitord.drivers import nonin2 as N
from monitord.drivers.base import LinkLost
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.intellivue import observations
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


# Serial drivers hit by their own test in this file, not by the streaming one above.
OWN_TEST = {"intellivue": "polled: test_intellivue_one_noisy_byte_costs_at_most_one_answer"}


def test_every_serial_driver_is_hit() -> None:
    """A serial driver added to the registry and left out here would have its
    `one_lost_s` (what check-config weighs `silence_s` against) never checked."""
    serial = {d.name for d in DRIVERS.values() if d.transport == "serial"}
    assert set(_PROTOCOLS) | set(OWN_TEST) == serial, (
        "add the driver's protocol to _PROTOCOLS and its stream to _streams(), or name its "
        f"own test in OWN_TEST; serial drivers: {sorted(serial)}"
    )


@pytest.mark.parametrize("driver", list(_PROTOCOLS))
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


class _PolledLink:
    """An IntelliVue on the other end of the port, answering the driver's frames at once
    (simulators/intellivue.py's dialog, without its pty): association result and MDS
    create event to an association request, to poll request k the poll result
    `answer(k)` gives (one fault in it, or none). The link's clock is the device's: a
    poll interval per poll request (`DEFAULT_POLL_S`; the protocol itself is paced much
    faster, to keep the test short: nothing is timed on the wall clock)."""

    def __init__(self, answer: Callable[[int, bytes], bytes], polls: int) -> None:
        self._answer = answer
        self._polls_max = polls
        self._in: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reader = IF.FrameReader()
        self.polls = 0
        self.heard_at: list[float] = []

    async def read(self) -> bytes:
        data = await self._in.get()
        if data is None:
            raise LinkLost("end of test data")
        return data

    async def write(self, data: bytes) -> None:
        for item in self._reader.feed(data):
            assert isinstance(item, bytes), item
            msg = IF.decode_message(item)
            assert isinstance(msg, IF.Message), msg
            if msg.type == "assoc_request":
                self._in.put_nowait(IF.frame(IF.association_result()))
                self._in.put_nowait(IF.frame(IF.mds_create_event(1)))
            elif msg.type == "poll_request":
                self.polls += 1
                if self.polls > self._polls_max:
                    self._in.put_nowait(None)
                    return
                t = datetime(2026, 12, 4, tzinfo=UTC) + timedelta(seconds=self.polls)
                obs = observations({Kind.SPO2: (SimEvent(Kind.SPO2, _SPO2), t)})
                result = IF.poll_result(msg.invoke_id, msg.poll_number, self.polls, t, obs)
                self._in.put_nowait(self._answer(self.polls, IF.frame(result)))

    def heard(self) -> None:
        self.heard_at.append(self.polls * IVP.DEFAULT_POLL_S)


_SPO2: dict[str, float | None] = {"spo2_pct": 97, "pulse_bpm": 72}


async def test_intellivue_one_noisy_byte_costs_at_most_one_answer() -> None:
    """The polled monitor: every fault at every byte of a poll answer, each in its own
    answer with a sound one between (one session, so the whole costs about a second).
    An answer lost is not asked again (drivers/intellivue.py), so two heard answers are
    at most two polls apart, the second up to an answer's margin after its poll: within
    `one_lost_s` (`lost_answer_s`) only if one noisy byte never costs a second answer."""
    sound = IF.frame(IF.poll_result(1, 1, 1, datetime(2026, 12, 4, tzinfo=UTC), []))
    probe = _PolledLink(lambda k, u: u, 1)
    await probe.write(IF.frame(IF.poll_request(1, 1, attr_group=0)))
    length = len(await probe.read())  # the length of an answer, the faults' places
    assert length > len(sound)
    faults = [(i, f) for i in range(length) for f in FAULTS.values()]

    def answer(k: int, unit: bytes) -> bytes:
        # polls 1-2 sound, then a fault every other poll, sound answers between and after
        n = k - 3
        if n < 0 or n % 2 or n // 2 >= len(faults):
            return unit
        at, fault = faults[n // 2]
        return fault(unit, at)

    link = _PolledLink(answer, 3 + 2 * len(faults) + 2)
    proto = IV.IntelliVueProtocol()
    proto.poll_s = 1e-6  # the pace only: the link's clock counts polls
    ctx = RecordingContext()
    with pytest.raises(LinkLost):
        await proto.run(link, ctx)
    heard = link.heard_at
    assert heard[-1] == link.polls - 1, "not back in step at the end"
    # and no noisy answer was read as another number (the frame check catches them all)
    assert len(ctx.readings) == len(heard)
    assert all(r.values == _SPO2 and r.valid for r in ctx.readings), ctx.readings[:3]
    worst = max(b - a for a, b in itertools.pairwise(heard))
    lost = DRIVERS["intellivue"].one_lost_s
    assert lost is not None and worst + IVP.ANSWER_MARGIN_S <= lost + 1e-9, (worst, lost)
    assert proto.associations == 1  # no fault was taken for the monitor ending the session
