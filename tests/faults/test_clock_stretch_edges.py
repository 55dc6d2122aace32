"""Where a stretch off UTC begins (monitord/clock.py `WallClock.offsets`): at the run's
start or at the step seen before, not at the look that saw the step.

Within one run the wall clock moves against the chair clock only by steps, and the report
takes the wall clock after a step as right: the chair clock, anchored on the wall clock
before it, was as far off UTC then. Before, a stretch began at the step, and the report
said the times before it (a session's start and dose on a Pi that booted behind) were on
UTC: the lead copied a dose time 3 h off onto the REMS form.

Each case runs a real `WallClock` in a child process under libfaketime (`FakeWall`), whose
wall clock the child steps itself by rewriting the offset file between its looks; the
monotonic clock stays real. Assertions compare chair times by order only: the child marks
the chair time right after each start and before each look (`marks`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.faults.clock_kit import FakeWall

H = 3600.0

# The child: a list of steps, each [what, arg]; prints the clock's stretches and marks.
CHILD = r"""
import json, os, sys, time
from monitord.clock import WallClock

f = os.environ["FAKETIME_TIMESTAMP_FILE"]
marks, c, row = {}, None, None
for what, arg in json.loads(sys.argv[1]):
    if what == "start":  # a run: fresh, or from the last run's row (timers pending)
        c = WallClock(row, since=None if row is None else row["wall"])
        marks[arg] = c.now()
    elif what == "stop":  # the run ends: its row is what the next start gets
        row = c.row()
        marks[arg] = row["t"]
    elif what == "wall":  # a step of the wall clock (NTP, an operator)
        with open(f + ".tmp", "w") as out:
            out.write("%+d\n" % arg)
        os.replace(f + ".tmp", f)
    elif what == "pause":  # chair time passes (a session's minutes); no sleep: under
        end = time.monotonic() + arg  # libfaketime a sleep fails (EINVAL)
        while time.monotonic() < end:
            pass
    else:  # a look: "busy" (timers pending) or "idle"; marked just before it
        marks[arg] = c.now()
        c.follow(lambda t: what == "idle")
print(json.dumps({"offsets": c.offsets, "marks": marks}))
"""


def run(
    tmp: Path, steps: list[list[Any]], boot_s: int = 0
) -> tuple[list[list[Any]], dict[str, float]]:
    """`boot_s`: seconds added to the child's time since boot (a time namespace: the Pi
    up that much longer); its wall and monotonic clocks are untouched by it."""
    wall = FakeWall(tmp)
    wall.check()
    up = ["unshare", "-rT", "--fork", "--boottime", str(boot_s)] if boot_s else []
    if up and shutil.which("unshare") is None:
        pytest.fail("unshare missing: apt-get install util-linux", pytrace=False)
    r = subprocess.run(
        [*up, sys.executable, "-c", CHILD, json.dumps(steps)],
        env=wall.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out["offsets"], out["marks"]


def off_is(off: float, want: float) -> bool:
    return abs(off - want) <= 2.0  # a step, to within STEP_S


def test_a_step_mid_run_marks_the_run_from_its_start(tmp_path: Path) -> None:
    # A Pi booted 3 h behind (the chair clock on it), a session opened, NTP later.
    offsets, m = run(tmp_path, [["start", "t0"], ["pause", 0.3], ["wall", 3 * H], ["busy", "s"]])
    ((fr, to, off),) = offsets
    assert fr <= m["t0"] < m["s"] and to is None and off_is(off, 3 * H), (offsets, m)


def test_a_step_in_the_first_seconds_starts_at_the_run_start(tmp_path: Path) -> None:
    offsets, m = run(tmp_path, [["start", "t0"], ["wall", 3 * H], ["busy", "s"]])
    ((fr, _, off),) = offsets
    assert fr <= m["t0"] and off_is(off, 3 * H), (offsets, m)


def test_two_steps_each_stretch_back_to_the_one_before(tmp_path: Path) -> None:
    offsets, m = run(
        tmp_path,
        [
            ["start", "t0"],
            ["pause", 0.2],
            ["wall", 1 * H],
            ["busy", "s1"],
            ["pause", 0.2],
            ["wall", 3 * H],
            ["busy", "s2"],
        ],
    )
    (fr1, to1, off1), (fr2, to2, off2) = offsets
    assert fr1 <= m["t0"] and m["s1"] < m["s2"] <= to1 and off_is(off1, H), (offsets, m)
    assert fr2 == to1 and to2 is None and off_is(off2, 3 * H), (offsets, m)


def test_a_stretch_that_ended_is_the_start_of_the_next(tmp_path: Path) -> None:
    # The wall clock agreed again (stepped back), then stepped on: the second stretch
    # goes back to the step that ended the first, no further.
    offsets, m = run(
        tmp_path,
        [
            ["start", "t0"],
            ["wall", 1 * H],
            ["busy", "s1"],
            ["wall", 0],
            ["busy", "e1"],
            ["pause", 0.2],
            ["wall", 2 * H],
            ["busy", "s2"],
        ],
    )
    (_, to1, _), (fr2, _, off2) = offsets
    assert m["e1"] <= to1 == fr2 < m["s2"] and off_is(off2, 2 * H), (offsets, m)


def test_a_step_back_marks_the_run_from_its_start_too(tmp_path: Path) -> None:
    # A clock ahead at boot set right: the chair clock never goes back, and its times
    # before the step were as far ahead of UTC.
    offsets, m = run(
        tmp_path,
        [["start", "t0"], ["pause", 0.2], ["wall", -1 * H], ["busy", "s"], ["idle", "i"]],
    )
    ((fr, to, off),) = offsets
    assert fr <= m["t0"] < m["s"] and to is None and off_is(off, -H), (offsets, m)


def test_a_restart_between_starts_the_stretch_at_the_restart(tmp_path: Path) -> None:
    # Timers pending across a restart on the same boot: the new run's start, not the
    # previous run's times nor the time down, is where the stretch can begin.
    offsets, m = run(
        tmp_path,
        [
            ["start", "t0"],
            ["pause", 0.2],
            ["stop", "down"],
            ["pause", 0.3],
            ["start", "t1"],
            ["pause", 0.2],
            ["wall", 3 * H],
            ["busy", "s"],
        ],
    )
    ((fr, to, off),) = offsets
    assert m["down"] < fr <= m["t1"] < m["s"] and to is None, (offsets, m)
    assert off_is(off, 3 * H), offsets


def test_a_step_followed_bounds_the_next_stretch(tmp_path: Path) -> None:
    # Followed with nothing pending: the chair clock is on the wall clock from there, so
    # a later step not followed goes back to the follow, not to the run's start.
    offsets, m = run(
        tmp_path,
        [
            ["start", "t0"],
            ["wall", 1 * H],
            ["idle", "f"],
            ["pause", 0.2],
            ["wall", 3 * H],
            ["busy", "s"],
        ],
    )
    (_, to1, _), (fr, _, off) = offsets
    assert to1 <= m["f"] + H - 2 <= fr < m["s"] and off_is(off, 2 * H), (offsets, m)


def test_a_step_followed_at_once_marks_the_run_before_it(tmp_path: Path) -> None:
    # A session ran and ended on a Pi booted 3 h behind; NTP answered later, with
    # nothing pending, and the chair clock followed at once. Its times were as far off:
    # before, no stretch was kept and its report said nothing.
    offsets, m = run(tmp_path, [["start", "t0"], ["pause", 0.2], ["wall", 3 * H], ["idle", "f"]])
    ((fr, to, off),) = offsets
    assert fr <= m["t0"] and to is not None and m["f"] <= to < m["f"] + 1, (offsets, m)
    assert off_is(off, 3 * H), offsets


# A Pi up ~116 days (a time namespace): over that the system clock may drift up to 5000 s
# (monitord/clock.py DRIFT_PER_S), so a step of a minute may be the drift of a clock NTP
# had kept right until it stopped answering, not an error since the run's start.
UP_S = 10_000_000


def test_a_step_drift_can_explain_is_not_taken_back_to_the_run_start(tmp_path: Path) -> None:
    # Followed at once: nothing kept, as before the stretches went back. Before, a
    # stretch from the run's start (months of sessions on UTC, NTP answering then) put
    # a red "add 1 min" on each of their reports.
    offsets, m = run(tmp_path, [["start", "t0"], ["pause", 0.2], ["wall", 60], ["idle", "f"]], UP_S)
    assert offsets == [], (offsets, m)
    # Not followed: the stretch begins where the step was seen, not at the run's start.
    offsets, m = run(tmp_path, [["start", "t0"], ["pause", 0.2], ["wall", 60], ["busy", "s"]], UP_S)
    ((fr, to, off),) = offsets
    assert m["t0"] < m["s"] <= fr and to is None and off_is(off, 60), (offsets, m)


def test_a_step_of_hours_goes_back_to_the_run_start_also_after_months_up(
    tmp_path: Path,
) -> None:
    # Hours are no drift of months: a Pi booted that far behind, NTP late.
    offsets, m = run(
        tmp_path, [["start", "t0"], ["pause", 0.2], ["wall", 3 * H], ["idle", "f"]], UP_S
    )
    ((fr, to, off),) = offsets
    assert fr <= m["t0"] and to is not None and off_is(off, 3 * H), (offsets, m)
