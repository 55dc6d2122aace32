"""The `online` after a leap of the chair's clock while its link was down (a wall-clock step
followed once nothing was pending, a restart onto the wall clock, a simulated chair's
speed) said the clock less that leap as `chair_time` (so a raise held across it was not
read older): the station's page counts the chair's durations on it (`chair_now`), so
every reading after the leap read as old as the leap ("60 min ago" for one just taken),
an alert's HH:MM an hour off the header (and for a simulated chair, whose clock leaps
with a session open, a BP due late by its leap), until the chair's next active set or
alert event. `chair_time` is the clock now; the leap comes as
`leapt_s`, and only the phone forwarder's ages take it off. Audit A4."""

from __future__ import annotations

import json
import time

from monitord.backoff import Backoff
from monitord.clock import WallClock
from monitord.models import iso
from monitord.sinks.mqtt_link import ChairLink
from monitord.station.order import _epoch
from tests.station.test_forwarder_outage_raise import AFTER_S, left, online, put, raised, setup


def _leapt_link() -> tuple[WallClock, ChairLink]:
    """A chair clock an hour behind the wall (a step not followed: timers pending) that
    follows it while its link is down."""
    wall = time.time()
    clock = WallClock({"t": wall - 3600, "wall": wall}, None, idle=False)
    link = ChairLink("c", Backoff(0.5, 30.0), clock)
    link.delivering()
    link.down()
    assert clock.follow(lambda _now: True) is not None  # idle: it leaps the hour
    return clock, link


def test_the_page_counts_on_the_chairs_clock_after_a_leap_during_the_outage() -> None:
    clock, link = _leapt_link()
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    tile = m.chairs["c"].to_json(time.monotonic())
    behind = clock.now() - (_epoch(tile["chair_now"]) or 0.0)
    assert -1 < behind < 5, f"chair_now {behind:.0f} s behind the chair's clock"


def test_a_raise_held_across_the_leap_is_still_aged_without_it() -> None:
    clock, link = _leapt_link()
    raise_t = clock.now() - 3600 - 5  # stamped 5 s before the leap, held
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    ev = raised("c", raise_t)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 15 < left(f, ev) <= AFTER_S - 4, f"phoned in {left(f, ev):.1f} s"
    # Learnt from the set instead (its event refused), it is not read older either.
    m, f = setup()
    put(m, f, "c", "status", json.loads(link.status("online")), time.monotonic())
    a = {**ev, "state": "active", "ack": False, "raised_t": raise_t, "level": 0}
    put(m, f, "c", "alerts/active", {"time": ev["time"], "alerts": [a]}, time.monotonic())
    assert AFTER_S - 15 < left(f, ev) <= AFTER_S - 4, f"phoned in {left(f, ev):.1f} s"


def test_a_bad_leapt_s_is_refused_with_one_line() -> None:
    m, _f = setup()
    bad = {"state": "online", "time": "2026-01-01T00:00:00Z", "leapt_s": -5}
    ch = m.apply("monitord/site/c/status", json.dumps(bad).encode(), at=time.monotonic())
    assert ch.rejected is not None and "leapt_s" in ch.rejected, ch.rejected
    assert "\n" not in ch.rejected


def test_a_raise_after_the_connection_ended_is_not_aged_from_its_online() -> None:
    """The `online` of the connection after is refused (an ACL; retried with the active
    set) and its alert events go first: a raise on a clock behind the one before (a
    replaced Pi) was aged from the ended connection's `online`, phoned at once."""
    m, f = setup()
    t = time.time()
    put(m, f, "c", "status", online(t), time.monotonic())
    will = {"state": "offline", "time": iso(t - 3)}
    put(m, f, "c", "status", will, time.monotonic())
    ev = raised("c", t - 600)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, f"phoned in {left(f, ev):.1f} s"
