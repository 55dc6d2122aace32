"""Never phoned early (audit A1): a live HIGH raise is counted from its time on the chair's
clock only when the chair's clock can say how long ago that was, in seconds that passed.

- A connection lives for days. Its chair's clock can run slower than the station's
  monotonic clock meanwhile (a simulated chair at `simulate_speed` < 1, a Pi's monotonic
  clock slewed back by NTP): the clock learnt at its `online`, carried forward on the
  station's clock, reads it ahead, and every raise heard live was read as old (at half
  speed: half the time since the `online`), up to `after_s`: phoned at once. Only a raise
  stamped before its connection's `online` said the chair's clock (held across the outage)
  is counted from its raise, from that `online`; one raised later came live.
- Leaps of the daemon's clock while the link was down: test_status_chair_time_leaps.py."""

from __future__ import annotations

import time

from tests.station.test_forwarder_outage_raise import AFTER_S, left, online, put, raised, setup


def test_a_live_raise_on_a_chair_clock_slower_than_the_stations_is_not_phoned_early() -> None:
    m, f = setup()
    t, now = time.time(), time.monotonic()
    # Its `online` heard 1000 s ago; its clock has run 500 s since (half speed).
    put(m, f, "c", "status", online(t - 1000), now - 1000)
    ev = raised("c", t - 500)
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert AFTER_S - 10 < left(f, ev) <= AFTER_S, (
        f"phoned in {left(f, ev):.1f} s: a live raise read {AFTER_S:.0f}+ s old on a clock "
        "carried forward from the online at the station's pace"
    )


def test_a_held_raise_is_counted_from_the_online_not_from_a_later_set() -> None:
    """A set heard after the `online` (its time later: a clock slow since) moves nothing."""
    m, f = setup()
    t, now = time.time(), time.monotonic()
    put(m, f, "c", "status", online(t - 1000), now - 1000)
    ev = raised("c", t - 1030)  # held: stamped 30 s before the online
    put(m, f, "c", "alerts/events", ev, time.monotonic())
    assert left(f, ev) <= 1, f"phoned in {left(f, ev):.1f} s: 1030 s after its raise"
