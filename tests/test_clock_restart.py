"""Where a real chair's clock starts after a restart (monitord/clock.py `WallClock`), from
its stored `clock/<chair>` row and the previous run's last sign of life on the wall clock
(store/outages.py `last_alive`). The daemon-level proof is tests/faults/test_boot_clock.py;
here each case in numbers, on the real clocks (rows are made relative to them)."""

from __future__ import annotations

import time

from monitord.clock import WallClock, boot_id

H = 3600.0


def near(a: float, b: float) -> bool:
    return abs(a - b) < 0.5


def test_timers_pending_keep_the_offset_and_count_the_time_down() -> None:
    """The chair ran 3 h behind the wall clock (a step it had not followed, a session
    open) and was last alive 10 s after its row, 20 s ago: it goes on 3 h behind, 20 s
    (the time down) after its last sign of life. Before: on the wall clock, 3 h on,
    so every deadline of the session fired at the start."""
    now = time.time()
    row = {"t": now - 30 - 3 * H, "wall": now - 30}
    c = WallClock(row, since=now - 20)
    assert c.downtime_known and c.down_from is not None
    assert near(c.down_from, now - 20 - 3 * H)
    assert near(c.now(), now - 3 * H)


def test_wall_clock_behind_the_last_sign_of_life_goes_on_from_it() -> None:
    """A power cut; the Pi boots an hour behind: the time down is unknown, the clock goes
    on from the last sign of life, not from its row 25 s before it. Before: from the row,
    so readings were dated before those stored in those 25 s."""
    now = time.time()
    row = {"t": now + H - 25, "wall": now + H - 25}
    c = WallClock(row, since=now + H)
    assert not c.downtime_known
    assert c.down_from is not None and near(c.down_from, now + H)
    assert near(c.now(), now + H)


def test_idle_restarts_take_the_wall_clock_never_going_back() -> None:
    now = time.time()
    behind = {"t": now - 3 * H, "wall": now - 60}  # 3 h behind, nothing pending: catch up
    assert near(WallClock(behind, since=now - 50, idle=True).now(), now)
    ahead = {"t": now + 5 * H, "wall": now - 60}  # set ahead by mistake: never back
    assert near(WallClock(ahead, since=now - 50, idle=True).now(), now + 5 * H + 10)
    # A row from an older version (the chair time alone): no earlier than it.
    assert near(WallClock(now + H, since=now).now(), now + H)
    assert near(WallClock(now - H, since=now).now(), now)
    assert near(WallClock(None).now(), now)


def test_a_stale_last_sign_of_life_moves_the_clock_a_minute_at_most() -> None:
    """A last write stamped a day after the row (written before the wall clock was set
    back a day): not a day of records after the row, at most a snapshot period's."""
    now = time.time()
    row = {"t": now + 86400 - 5, "wall": now - 5}
    c = WallClock(row, since=now + 86400)
    assert c.down_from is not None and near(c.down_from, now + 86400 - 5 + 60)
    assert not c.downtime_known  # the wall clock is behind that: not measured
    assert near(c.now(), now + 86400 + 55)


def test_a_wall_step_while_stopped_is_not_time_down() -> None:
    """Stopped 20 s on this boot (the monotonic clock says so), the wall clock set an hour
    on meanwhile, a session open: the clock goes on 20 s after its last sign of life, the
    hour not followed (as a step while it runs). Before, the hour counted as time down:
    the session's deadlines fired at the start and a raise held across it read an hour
    old (its phone called at once). Another boot: the wall clock measures it, as before."""
    now, mono = time.time(), time.monotonic()
    row = {"t": now - H - 30, "wall": now - H - 30, "mono": mono - 30, "boot": boot_id()}
    c = WallClock(row, since=now - H - 20)
    assert c.downtime_known and c.down_from is not None
    assert near(c.now(), now - H) and c.leapt() == 0.0
    assert near(WallClock({**row, "boot": "another"}, since=now - H - 20).now(), now)
