"""Issue 20, group commit: a flood of readings keeps its short interval to its end.

A flood (a backlog, an ingest burst: GROUP_COMMIT_READINGS queued) commits at once, and
what is left after its commits goes FLOOD_INTERVAL_S later (monitord/storeflood.py).
Before, the flood ended with the commit right after the one it filled: readings that came
while that one was in the writer thread, or just after it, waited a whole
`commit_interval_s` (5 s by default) before they were stored and reached InfluxDB or MQTT
(bench/ingest.py's real-pty variant: 1,792 of 4,800 readings a second or more late).
A trickle after the flood goes back to the interval (SD-card writes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.storeflood import FLOOD_INTERVAL_S, GROUP_COMMIT_READINGS, Flood
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually

INTERVAL_S = 60.0  # the trickle's interval: far longer than anything the test waits


def timer_s(daemon: Daemon) -> float:
    """How long until the store's group-commit timer fires (it must be set)."""
    timer = daemon.store._timer
    assert timer is not None, "no group commit is scheduled for the readings queued"
    return timer.when() - asyncio.get_running_loop().time()


def gated(
    tmp: Path, name: str, alerts: str = "", *, each: bool = False
) -> tuple[Daemon, SlowCommits]:
    """A two-chair daemon with the trickle's long interval whose commits of rows can be
    held at a gate (`SlowCommits`; `each`: one `gate.set()` per commit)."""
    cfg = two_chairs(tmp, name, interval_s=INTERVAL_S, alerts=alerts)
    daemon = Daemon(loads_config(cfg))
    slow = SlowCommits(daemon.outbox._db, rows_only=True, each=each)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    return daemon, slow


async def test_a_floods_tail_is_committed_after_the_flood_interval(tmp_path: Path) -> None:
    """The tail comes while the flood's last commit is in the thread (held at the gate):
    it is queued when that one returns, so no commit comes between (one of the status
    rows alone, judged "nothing came", ends the flood: a pause of 0.2 s between that
    commit and the tail, as a loaded CI makes, would have the tail wait the interval),
    and its commit is awaited, not its timer read (a timer that fired in such a pause is
    gone)."""
    daemon, slow = gated(tmp_path, "flood", each=True)
    store = daemon.store
    async with running(daemon):
        try:
            a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
            # (The start's status rows may wait for the interval: the flood's commit takes
            # them and cancels that timer; only a commit with readings waits at the gate.)
            slow.hold.set()
            flood = GROUP_COMMIT_READINGS + 100
            for _ in range(flood):
                a.submit(reading("chair-a", Kind.HR, {"hr_bpm": 72.0}))
            # The flood's first commit (GROUP_COMMIT_READINGS filled it) waits at the gate;
            # more readings come meanwhile: they go in the next commit, at once.
            await asyncio.to_thread(slow.inside.wait, 10)
            for _ in range(1000):
                b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
            await eventually(lambda: a.processed >= flood and b.processed >= 1000,
                             what="the flood queued for the store")  # fmt: skip
            slow.gate.set()
            await eventually(lambda: slow.held_commits >= 2 and store.in_write,
                             what="the flood's second commit at the gate")  # fmt: skip
            # The flood's tail: a few readings more, while that one is in the thread.
            for hr in (70.0, 71.0, 72.0):
                a.submit(reading("chair-a", Kind.HR, {"hr_bpm": hr}))
            await eventually(lambda: a.processed >= flood + 3, what="the tail queued")
            slow.hold.clear()
            slow.gate.set()
            # Its commit follows FLOOD_INTERVAL_S later (before: after INTERVAL_S, far
            # beyond this wait: a wait, not a timed assertion).
            await eventually(lambda: not store.held and not store._busy,
                             within_s=INTERVAL_S / 3,
                             what=f"the flood's tail committed after {FLOOD_INTERVAL_S} s, "
                                  f"not the {INTERVAL_S:g}-s interval")  # fmt: skip
            # The flood is over (3 readings in FLOOD_INTERVAL_S): a trickle waits again.
            b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
            await eventually(lambda: b.processed >= 1001, what="a trickle's reading queued")
            trickle_s = timer_s(daemon)
            assert trickle_s > FLOOD_INTERVAL_S, (
                f"a trickle after the flood waits {trickle_s:.1f} s, not the interval"
            )
        finally:
            slow.hold.clear()
            slow.gate.set()  # never leave the writer held: the stop waits for it
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == flood + 1000 + 3 + 1  # nothing lost


class Judged(Flood):
    """The store's own flood judge (`Flood`, run as it is), which keeps each judgement it
    made: (readings, on after). A commit it does not judge (an alarm's, one started
    early) leaves no entry."""

    def __init__(self) -> None:
        super().__init__()
        self.judged: list[tuple[int, bool]] = []

    def commit(
        self, readings: int, interval_s: float, *, alarm: bool, now: float | None = None
    ) -> None:
        at = self._at
        super().commit(readings, interval_s, alarm=alarm, now=now)
        if self._at != at:
            self.judged.append((readings, self.on))


# A clinic's steady load: STEADY_GROUP readings every STEADY_EVERY_S or slower, 100 a
# second at most (50 chairs at ~2 a second): three times the 34 a second that filled a
# group per 60-s interval, a quarter of FLOOD_WINDOW_S's 400.
STEADY_GROUP, STEADY_EVERY_S, STEADY_READINGS = 10, 0.1, 300


async def test_a_clinics_steady_load_under_a_long_interval_is_no_flood(tmp_path: Path) -> None:
    """With `commit_interval_s = 60` (the longest allowed, chosen to spare the SD card),
    "faster than a full group per interval" is only 34 readings a second: a clinic's
    steady load (17 chairs at ~2 a second, 9 IntelliVues polled every 0.5 s). Before, a
    flood that such a load followed never ended: its commits went 0.2 s apart for as long
    as the load lasted (5 a second against about one a minute), wearing the card.
    The load goes on from the flood's commit, so every commit after it carries some of
    its readings: a commit of the status rows alone (the status listener writes them with
    the flood's commit when the last were written over a second before, as under a loaded
    CI) judged "nothing came" and ended the flood before the load, and the test waited
    60 s for a commit of the flood timer that could not come."""
    daemon = Daemon(loads_config(two_chairs(tmp_path, "steady", interval_s=INTERVAL_S)))
    store = daemon.store
    judge = store._flood = Judged()
    async with running(daemon):
        a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
        for _ in range(GROUP_COMMIT_READINGS):
            a.submit(reading("chair-a", Kind.HR, {"hr_bpm": 72.0}))
        # All of them queued for the store: the flood's commit has them all (none is left
        # over to make the load look faster than it comes).
        await eventually(lambda: a.processed >= GROUP_COMMIT_READINGS, what="the flood queued")
        for _ in range(STEADY_READINGS // STEADY_GROUP):
            for _ in range(STEADY_GROUP):
                b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
            # A wait for the readings to come at most that fast, not a timed assertion.
            await asyncio.sleep(STEADY_EVERY_S)
        # The flood's commit and the one after it (its 0.2-s timer: the load's readings
        # of that time) were judged, and nothing is in the thread.
        await eventually(lambda: b.processed >= STEADY_READINGS and len(judge.judged) >= 2
                         and not store._busy, what="the load's first commit judged")  # fmt: skip
        flood, *load = judge.judged
        assert flood[0] >= GROUP_COMMIT_READINGS and flood[1], (
            f"a commit of GROUP_COMMIT_READINGS did not start a flood: {flood}"
        )
        kept = [n for n, on in load if on]
        assert not kept, (
            f"a steady {1 / STEADY_EVERY_S * STEADY_GROUP:g} readings a second kept the flood "
            f"going (commits of {kept} readings, 0.2 s apart)"
        )
        b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
        await eventually(lambda: b.processed > STEADY_READINGS, what="the next reading queued")
        # Before: 0.2 s, and again after every commit while the load went on.
        wait_s = timer_s(daemon)
        assert wait_s > FLOOD_INTERVAL_S, (
            f"a steady load's readings are committed every {wait_s:.1f} s as a flood, "
            f"not every {INTERVAL_S:g} s (commit_interval_s)"
        )
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == GROUP_COMMIT_READINGS + STEADY_READINGS + 1  # nothing lost


def test_a_commit_started_early_does_not_end_a_flood() -> None:
    """A commit that starts within FLOOD_INTERVAL_S of the last (the sinks' delivery
    marks of the flood's readings, MARKS_FLUSH_AT of them, start one at once; so do an
    urgent status and a commit wanted while the last was in the thread) carries the
    readings of those few ms: no rate. Before, it was judged as if FLOOD_INTERVAL_S had
    passed: 20 readings 30 ms after a flood's commit (670 a second) ended the flood, and
    its tail waited the whole interval. The next commit judges (`now` given: the
    commits' start times, no clock read)."""
    flood = Flood()
    flood.commit(GROUP_COMMIT_READINGS, 5.0, alarm=False, now=100.0)
    assert flood.on, "a commit of GROUP_COMMIT_READINGS did not start a flood"
    flood.commit(20, 5.0, alarm=False, now=100.03)
    assert flood.on, "a commit started 30 ms after the flood's, with 20 readings, ended it"
    # The next commit, 0.2 s after that one: 120 readings in 0.23 s (520 a second).
    flood.commit(120, 5.0, alarm=False, now=100.23)
    assert flood.on, "520 readings a second ended the flood (more than 2,000 per 5 s)"
    flood.commit(3, 5.0, alarm=False, now=100.45)  # a trickle: the flood is over
    assert not flood.on, "3 readings in 0.22 s kept the flood going"


async def test_an_alarm_amid_a_flood_leaves_its_tail_the_flood_interval(tmp_path: Path) -> None:
    """An alarm's commit takes its own chair's batches only (the fast path,
    tests/faults/test_alarm_commit_alone.py) and says nothing of how fast the other
    readings come. Before, it ended the flood: a burst's 500 readings queued with it
    waited the whole interval (60 s here, 5 s by default) after the alarm's commit."""
    alerts = '"spo2.very_low" = { for_s = 0 }\n'
    daemon, slow = gated(tmp_path, "alarm", alerts)
    store = daemon.store
    async with running(daemon):
        try:
            a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
            slow.hold.set()
            for _ in range(GROUP_COMMIT_READINGS):
                b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
            # The flood's commit waits at the gate; its tail and chair A's alarm come.
            await asyncio.to_thread(slow.inside.wait, 10)
            for _ in range(500):
                b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
            a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
            queued = GROUP_COMMIT_READINGS + 500
            await eventually(lambda: b.processed >= queued and a.processed >= 1,
                             what="the tail and the alarm queued")  # fmt: skip
            slow.hold.clear()
            slow.gate.set()
            # The alarm's commit goes first and alone; the tail follows FLOOD_INTERVAL_S
            # later (before: after INTERVAL_S, far beyond this wait).
            await eventually(lambda: not store.held and not store._busy,
                             within_s=INTERVAL_S / 3,
                             what="the tail committed after the alarm's")  # fmt: skip
        finally:
            slow.gate.set()
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == GROUP_COMMIT_READINGS + 500 + 1
        assert ob.count("alert") >= 1
