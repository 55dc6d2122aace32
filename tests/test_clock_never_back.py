"""clinical-rules.md "Delivery of alarms": "Live, the alert engine's clock is the daemon's
receive time, which only moves forward". A chair clock ahead of the wall clock (the wall
clock stepped back, by NTP or an operator, or a Pi booted behind its last run) with
nothing pending (`idle`) is not taken back by `follow`: it follows a step forward only.
Taken back, stored records and events would be dated before those already stored, and a
`cleared` before its `raised`.

Found by mutation: `follow` catching up in both directions passed every test (the
daemon-level clock-step tests step back only with timers pending). The real clocks, as
tests/test_clock_restart.py runs them: the chair clock is made an hour ahead of the wall
clock by its stored time.
"""

from __future__ import annotations

import time

from monitord.clock import WallClock

H = 3600.0


def test_an_idle_chair_clock_ahead_of_the_wall_clock_is_never_taken_back() -> None:
    now = time.time()
    clock = WallClock(now + H, since=now)  # an older store's row: the chair time alone
    before = clock.now()
    assert before >= now + H
    said = clock.follow(lambda _t: True)  # nothing pending: a jump would fire nothing
    after = clock.now()
    assert after >= before, f"the chair clock went back {before - after:.0f} s"
    assert said is not None and "it never goes back" in said, said


def test_an_idle_chair_clock_behind_the_wall_clock_follows_it_forward() -> None:
    # The other direction, for contrast: a wall clock ahead (NTP stepped forward) is
    # followed when nothing is pending.
    now = time.time()
    clock = WallClock({"t": now - H, "wall": now}, since=now)  # timers pending: kept behind
    assert clock.now() < now - H / 2
    said = clock.follow(lambda _t: True)
    assert said is not None and "followed" in said, said
    # caught up with the wall clock (at least where it stood before `follow`), never past
    # it (1 s for reading two clocks): bounds that hold however late this line runs
    assert now <= clock.now() <= time.time() + 1.0
