"""A simulated chair's clock is held at each scenario event until the daemon has processed
what it caused (monitord/simulators/player.py: up to 5 s, 20 s for a device back), while
its free-running time goes on, then jumps on to it. Its `leapt()` was the clock less the
wall time run, which falls during such a hold: the link went down before a hold and a
raise stamped during it (on the held clock), the `online` after the jump subtracted the
leap since the down less the hold, and the station read the raise as old as the hold more
than it was (phoned that much early). `leapt()` never decreases now: each jump counts.
Audit A4. Wall time is moved by the clock's own base (`_m0`), not slept."""

from __future__ import annotations

import asyncio
import json
import time

from monitord.backoff import Backoff
from monitord.clock import SimClock
from monitord.sinks.mqtt_link import ChairLink
from tests.station.test_forwarder_outage_raise import AFTER_S, left, put, raised, setup


def _wall_passes(clock: SimClock, s: float) -> None:
    clock._m0 -= s  # `s` wall seconds have run on the clock's monotonic base


def test_a_raise_during_a_hold_after_the_link_went_down_is_not_read_older() -> None:
    clock = SimClock(1_700_000_000.0, 10.0)
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    link.delivering()
    clock.next_event = clock.start + 10_000  # the player lets it run
    _wall_passes(clock, 100)
    link.down()  # the broker goes away
    clock.next_event = clock.now()  # held at an event while its effect is awaited
    _wall_passes(clock, 20)  # a device back, found after 20 s
    raise_t = clock.now()  # the event's raise, stamped on the held clock
    clock.next_event = clock.start + 10_000  # let on: it jumps 200 s ahead
    assert clock.leapt() >= 0
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    ev = raised("c", raise_t)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, (
        f"phoned in {left(f, ev):.1f} s, raised just now: the hold read as its age"
    )


def test_leapt_never_decreases_held_or_stopped() -> None:
    clock = SimClock(1_700_000_000.0, 10.0)
    clock.next_event = clock.start + 500
    seen = [clock.leapt()]
    for _ in range(3):
        _wall_passes(clock, 30)  # free to 300, then held at 500 for 20 s, then stopped
        seen.append(clock.leapt())
    clock.final = clock.next_event = clock.start + 500
    _wall_passes(clock, 100)
    seen.append(clock.leapt())
    assert seen == sorted(seen), seen
    assert abs(seen[-1] - 450) < 1, seen  # 50 s of wall ran free: 500 virtual s


def test_at_speed_1_and_below_a_clock_running_free_leaps_nothing() -> None:
    for speed in (0.5, 1.0):
        clock = SimClock(1_700_000_000.0, speed)
        clock.next_event = clock.start + 10_000
        _wall_passes(clock, 100)
        assert clock.leapt() < 0.01, speed  # (the microseconds before the player set it)


def test_a_raise_written_as_the_broker_froze_is_held_from_its_write() -> None:
    """The link goes down (`down`) when the unanswered publish's `timeout_s` ends: the
    clock's leaps were taken from then, and those of the wait went into the raise's age."""

    async def run() -> tuple[ChairLink, float]:
        clock = SimClock(1_700_000_000.0, 10.0)
        link = ChairLink("c", Backoff(0.5, 30.0), clock)
        clock.next_event = clock.start + 10_000
        _wall_passes(clock, 100)
        link.delivering()
        raise_t = clock.now()
        link.asking()  # its event written; the broker never answers
        _wall_passes(clock, 10)  # `timeout_s`: the connection is given up
        link.down()
        _wall_passes(clock, 5)  # reconnected
        return link, raise_t

    link, raise_t = asyncio.run(run())
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    ev = raised("c", raise_t)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 25 < left(f, ev) <= AFTER_S - 14, (
        f"phoned in {left(f, ev):.1f} s, raised 15 s ago"
    )
