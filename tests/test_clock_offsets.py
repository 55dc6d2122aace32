"""The stretches a real chair's clock runs off the wall clock (monitord/clock.py
`WallClock.offsets`), kept with its `clock/<chair>` row across restarts, and how the
session report cuts and words them (monitord/report/clockoff.py). The daemon-level proof
is tests/faults/test_clock_offset_report.py; here each case in numbers, on the real
clocks (rows are made relative to them)."""

from __future__ import annotations

import time

from monitord.clock import MAX_OFFSETS, WallClock, offsets_of
from monitord.report.clockoff import ClockOff, offset_text, session_offsets

H = 3600.0


def near(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) < 0.5


def busy(t: float) -> bool:
    return False


def steady(t: float) -> bool:
    return True


def test_a_step_not_followed_is_a_stretch_until_the_clock_follows() -> None:
    now = time.time()
    # Restarted with a session open, 3 h behind the wall clock (a step not followed).
    c = WallClock({"t": now - 3 * H, "wall": now}, since=now)
    assert c.offsets == [] and "offsets" not in c.row()
    assert c.follow(busy) is not None
    ((fr, to, off),) = c.offsets
    assert near(fr, now - 3 * H) and to is None and near(off, 3 * H)
    assert c.follow(busy) is None and len(c.offsets) == 1  # the same stretch goes on
    row = c.row()
    assert row["offsets"] == c.offsets
    assert c.follow(steady) is not None  # nothing pending: it follows, the stretch ends
    assert near(c.offsets[0][1], now - 3 * H) and near(c.now(), now)
    assert c.follow(steady) is None and len(c.offsets) == 1


def test_a_restart_that_keeps_the_offset_keeps_the_stretch_going() -> None:
    now = time.time()
    began = now - 3 * H - 99
    row = {"t": now - 3 * H - 20, "wall": now - 20, "offsets": [[began, None, 3 * H]]}
    c = WallClock(row, since=now - 20)  # timers pending: the offset stays
    assert near(c.offsets[0][1], now - 3 * H - 20)  # cut at the last sign of life...
    c.follow(busy)
    assert c.offsets == [[began, None, 3 * H]]  # ...and open again


def test_an_idle_restart_ends_the_stretch_at_the_last_sign_of_life() -> None:
    now = time.time()
    row = {"t": now - 3 * H - 20, "wall": now - 20, "offsets": [[now - 3 * H - 99, None, 3 * H]]}
    c = WallClock(row, since=now - 20, idle=True)  # on the wall clock again
    c.follow(busy)
    assert len(c.offsets) == 1 and near(c.offsets[0][1], now - 3 * H - 20)


def test_stored_stretches_are_checked_and_bounded() -> None:
    good = [[float(i), float(i) + 1, 10.0] for i in range(MAX_OFFSETS + 5)]
    bad = [[1.0, None], "x", [5.0, 4.0, 10.0], [1.0, True, 10.0], [1.0, 2.0, float("nan")]]
    got = offsets_of({"offsets": [*bad, *good, [100.0, None, 10.0], [200.0, None, 10.0]]})
    assert len(got) == MAX_OFFSETS and got[-1] == [200.0, None, 10.0]
    assert got[-2] == [100.0, 100.0, 10.0]  # only the last stretch may still be open
    assert offsets_of({"t": 1.0}) == [] and offsets_of(5.0) == []


def test_the_report_cuts_the_stretches_to_the_session_and_words_them() -> None:
    st: list[list[float | None]] = [
        [0.0, 50.0, 3 * H],
        [60.0, 70.0, 1.0],
        [80.0, 300.0, -90.0],
        [500.0, None, 9.0],
    ]
    offs = session_offsets(st, 40.0, 100.0)
    # The first began before the session (at 0): said, as its own start.
    assert offs == (ClockOff(40.0, 50.0, 3 * H, 0.0), ClockOff(80.0, 100.0, -90.0))
    open_end = (ClockOff(200.0, 300.0, -90.0, 80.0), ClockOff(500.0, None, 9.0))
    assert session_offsets(st, 200.0, None) == open_end  # not ended: to the end of it
    assert session_offsets([[0.0, 10.0, 3 * H]], 20.0, 30.0) == ()
    text = offset_text(offs, lambda t: f"<{t:.0f}>") or ""
    assert text.startswith(
        "the times printed from <40> (this session's start: off since <0>, before it) to "
        "<50> are 3 h 00 min behind"
    ), text
    assert "add 3 h 00 min to them for UTC" in text
    assert "from <80> to <100> are 1 min 30 s ahead of" in text
    assert "subtract 1 min 30 s from them for UTC" in text
    assert offset_text((), str) is None
    going = offset_text((ClockOff(1.0, None, 60.0),), str) or ""
    assert "to the end of this record are 1 min 00 s behind" in going


def test_an_offset_of_hours_is_given_to_the_second() -> None:
    # The offset is what the reader adds to every printed time: since e93602e rounded a
    # duration of an hour or more up to the minute (right for a hole, never shown
    # shorter), a step of 3 h 00 min 20 s read "add 3 h 01 min", every corrected time
    # 40 s late (and 3 h 00 min 01 s, 59 s late).
    for off, want in ((3 * H + 20, "3 h 00 min 20 s"), (3 * H + 1, "3 h 00 min 01 s")):
        text = offset_text((ClockOff(0.0, 10.0, off),), str) or ""
        assert f"are {want} behind" in text and f"add {want} to them for UTC" in text, (
            f"offset {off} s worded {text!r}: the offset to add must be exact to the second"
        )
    # Whole hours and minutes as before.
    text = offset_text((ClockOff(0.0, 10.0, -(2 * H + 5 * 60)),), str) or ""
    assert "subtract 2 h 05 min from them for UTC" in text, text


def test_a_stretch_from_before_the_session_covers_its_start_and_says_so() -> None:
    # A Pi booted 3 h behind at 0, the session opened at 100 and dosed at 160, NTP at
    # 200 (the stretch, stored from the run's start: tests/faults/test_clock_stretch_
    # edges.py). Before, the stretch began at the step and the line at 200: the dose's
    # printed time, as far off, read as if on UTC.
    (o,) = session_offsets([[0.0, 400.0, 3 * H]], 100.0, 400.0)
    assert o == ClockOff(100.0, 400.0, 3 * H, 0.0)
    assert o.start_t <= 160.0, "the dose time must be inside the stretch"
    text = offset_text((o,), lambda t: f"<{t:.0f}>") or ""
    assert text.startswith(
        "the times printed from <100> (this session's start: off since <0>, before it) "
        "to <400> are 3 h 00 min behind the system clock"
    ), text
    # Begun in the session: no such words.
    (o,) = session_offsets([[120.0, None, 3 * H]], 100.0, None)
    assert o.began_t is None and "before it" not in (offset_text((o,), str) or "")
