"""The daemon's clock may leap forward while its link is down (`WallClock.follow` catching
up with a wall clock that stepped once nothing is pending, a restart onto the wall clock,
a simulated chair's speed): the leap is no time passed. Its `online`'s `chair_time` said
the clock with the leap, and the station read a raise held across the outage as old by
it: phoned up to `after_s` early (an hour's step: at once). The `online` says the chair's
clock less its leaps since the link went down (monitord/sinks/mqtt_link.py
`ChairLink.status`): a raise before them is read as old as it is, one after as younger
(counted from when seen at worst, as before `chair_time`). Audit A1."""

from __future__ import annotations

import json
import time

from monitord.backoff import Backoff
from monitord.clock import WallClock, boot_id
from monitord.sinks.mqtt_link import ChairLink
from monitord.station.order import _epoch
from tests.station.test_forwarder_outage_raise import AFTER_S, left, put, raised, setup


def _through_station(link: ChairLink, raise_t: float) -> float:
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    ev = raised("c", raise_t)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    return left(f, ev)


def test_a_clock_that_follows_a_wall_step_while_the_link_is_down_is_no_age() -> None:
    # A chair clock an hour behind the wall (a step it did not follow: timers pending).
    wall = time.time()
    clock = WallClock({"t": wall - 3600, "wall": wall}, None, idle=False)
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    link.delivering()
    raise_t = clock.now()  # raised, held: the link goes down
    link.down()
    assert clock.follow(lambda _now: True) is not None  # idle now: it leaps the hour
    assert clock.now() - raise_t > 3000
    assert AFTER_S - 10 < _through_station(link, raise_t) <= AFTER_S, "phoned early"


def test_a_restart_onto_the_wall_clock_is_no_age() -> None:
    """The previous run's clock an hour behind the wall; it stopped 10 s ago with a raise
    in its outbox; the new run starts idle, on the wall clock: that hour passed for no one."""
    wall = time.time()
    clock = WallClock({"t": wall - 3610, "wall": wall - 10}, wall - 10, idle=True)
    assert clock.now() > wall - 5  # on the wall clock
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    raise_t = wall - 3610  # stamped on the old run's clock as it stopped
    assert AFTER_S - 20 < _through_station(link, raise_t) <= AFTER_S - 5, "not ~10 s old"


def test_a_clean_offline_says_the_clock_less_no_leap_of_an_outage_over() -> None:
    wall = time.time()
    clock = WallClock({"t": wall - 3600, "wall": wall}, None, idle=False)
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    link.down()
    clock.follow(lambda _now: True)
    link.delivering()
    link.down()  # a new outage (the clean stop's): the leap before it is the clock's own
    doc = json.loads(link.status("offline"))
    assert abs(doc["chair_time"] and (clock.now() - _e(doc["chair_time"]))) < 5, doc


def _e(t: str) -> float:
    return _epoch(t) or 0.0


def test_a_restart_from_an_older_stores_row_is_no_age() -> None:
    """An older version's row is the chair time alone: the time down is unknown, and the
    clock that moves on to the wall clock from it leaps (its outbox's raise not that old)."""
    wall = time.time()
    clock = WallClock(wall - 3600, None, idle=True)  # it stopped an hour behind the wall
    assert clock.now() > wall - 5
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    raise_t = wall - 3610  # stamped 10 s before it stopped
    assert AFTER_S - 20 < _through_station(link, raise_t) <= AFTER_S - 5, "not ~10 s old"


def test_a_wall_step_while_the_daemon_was_stopped_is_no_age() -> None:
    """Stopped 10 s (same boot: the monotonic clock measured it) while the wall clock was
    set an hour on; the new run starts idle, on the wall clock. Before, the wall clock's
    hour counted as time down, not as a leap: a raise held across it read an hour old
    (phoned at once). Audit A7."""
    wall, mono = time.time(), time.monotonic()
    row = {"t": wall - 3610, "wall": wall - 3610, "mono": mono - 10, "boot": boot_id()}
    clock = WallClock(row, wall - 3610, idle=True)
    assert clock.now() > wall - 5  # on the wall clock
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    raise_t = wall - 3610  # stamped on the old run's clock as it stopped
    assert AFTER_S - 20 < _through_station(link, raise_t) <= AFTER_S - 5, "not ~10 s old"
