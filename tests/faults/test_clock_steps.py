"""Issue 12 defect 4: wall-clock steps neither fire nor stall alert timers, and
escalations missed while the daemon was down are not replayed.

Real daemon (`monitord run` subprocess) under a steppable wall clock (`FakeWall`:
libfaketime steps CLOCK_REALTIME, CLOCK_MONOTONIC runs on), one oximeter at SpO2 80 %
(spo2.very_low, high, shortened to 1 s and escalating every 1.5 s by `[alerts]` overrides,
so a 1-h step would be 2,400 escalations). The oximeter's own clock is the real time.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.serial_sims import make_sim_device
from tests.e2e.e2e_kit import Store
from tests.faults.clock_kit import CHAIR, FakeWall, FakeWallDaemon, events, started, write_config
from tests.kit import eventually

# The escalation interval, set through `[alerts]`: the test waits for seven of them (2 s
# each cost 3.5 s more). After a restart the next is due ESC_S after the start, checked to
# +-1 s: an escalation replayed at the start is still outside that.
ESC_S = 1.5
ALERTS = f"""
[alerts."spo2.very_low"]
for_s = 1
escalate_s = {ESC_S:g}
"""


class Feed:
    """One SpO2 line per wall second at `spo2`, stamped with the real time."""

    def __init__(self, sim: Any, spo2: float) -> None:
        self.sim, self.spo2 = sim, spo2
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            ev = SimEvent(Kind.SPO2, {"spo2_pct": self.spo2, "pulse_bpm": 70})
            await self.sim.send(ev, datetime.now(UTC))
            await asyncio.sleep(1.0)

    def __enter__(self) -> Feed:
        self.task = asyncio.get_running_loop().create_task(self.run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


def escalations(store: Store) -> list[dict[str, Any]]:
    return events(store, "spo2.very_low", "escalated")


async def more_escalations(
    store: Store, seen: list[dict[str, Any]], n: int, what: str
) -> list[dict[str, Any]]:
    """Every escalation stored, read once, as soon as it has `n` more than `seen` (the
    previous such read; its rows first). One read each: the daemon stores one every
    ESC_S, and one landing between two reads (a loaded machine) was counted in none."""
    got: list[dict[str, Any]] = []

    def enough() -> bool:
        nonlocal got
        got = escalations(store)
        return len(got) >= len(seen) + n

    await eventually(enough, 30, what)
    return got


def reboot(path: Path) -> None:
    """The chair's clock row as if written on another boot (monitord/clock.py `boot_id`)."""
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(
                "UPDATE state SET value = json_set(value, '$.boot', 'another boot') WHERE key = ?",
                (f"clock/{CHAIR}",),
            )
    finally:
        db.close()


def assert_steady(esc: list[dict[str, Any]]) -> None:
    """Consecutive levels, one interval apart in event time: no burst, no gap."""
    for a, b in itertools.pairwise(esc):
        assert b["level"] == a["level"] + 1, (a, b)
        assert abs(b["t"] - a["t"] - ESC_S) < 1e-6, (a, b)


async def test_wall_clock_steps_neither_fire_nor_stall_escalations(tmp_path: Path) -> None:
    wall = FakeWall(tmp_path)
    wall.check()
    sim = make_sim_device("masimo-ascii", symlink=tmp_path / "ox.tty", repeat=False)
    cfg = write_config(tmp_path, {"ox": str(tmp_path / "ox.tty")}, ALERTS)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = FakeWallDaemon(cfg, tmp_path / "daemon.log", wall)
    async with sim:
        with Feed(sim, 80.0):
            try:
                daemon.start()
                # One before each step and one after: a burst (+1 h) or an hour's silence
                # (-1 h) fails at the first; `live` is judged steady across both steps.
                before = await more_escalations(store, [], 1, "an escalation")
                # +1 h (NTP): the old engine fired 2,400 escalations at once.
                wall.set(3600)
                wall.check()
                # Counted from the step (a full read each: none is lost between them).
                plus = await more_escalations(store, escalations(store), 1, "one after +1 h")
                # -1 h: the old engine fired nothing for an hour.
                wall.set(-3600)
                wall.check()
                live = await more_escalations(store, escalations(store), 1, "one after -1 h")
                # Down for 2 h (the wall clock says so at the next start): a reboot, as
                # its row says; on the same boot the monotonic clock measures the time
                # down, and a 2-h wall step while stopped is a step (test_clock_restart).
                daemon.stop()
                stop_real = time.time()
                # What the run stored up to its stop: an escalation may come after `live` was
                # read (a loaded machine), and the next run's level counts on from it.
                at_stop1 = escalations(store)
                reboot(tmp_path / "outbox.sqlite")
                wall.set(7200)
                daemon.start()
                after = await more_escalations(store, at_stop1, 2, "2 after the restart")
                after = after[len(at_stop1) :]
                # Read once this run stopped: its `daemon` state row (status) is written
                # with the group commit, up to 5 s after the start; before that, the row
                # read is the previous run's.
                daemon.stop()
                start2 = started(store)
                at_stop2 = escalations(store)
                # Restarted with the wall clock 1 h behind (a Pi without RTC after a power
                # cut): the chair clock starts no earlier than it had got to.
                wall.set(-3600)
                daemon.start()
                behind = await more_escalations(store, at_stop2, 2, "2, clock behind")
                behind = behind[len(at_stop2) :]
            finally:
                daemon.stop()

    log = daemon.output()
    assert "Traceback" not in log, log
    raised = events(store, "spo2.very_low", "raised")
    assert len(raised) == 1, raised  # one episode throughout, across both restarts
    assert {e["alert_id"] for e in escalations(store)} == {raised[0]["alert_id"]}
    # Live: steps move no timer. One steady series, on the monotonic-anchored clock.
    assert_steady(live)
    # Each read begins with the one before it: nothing stored among them later.
    assert live[: len(plus)] == plus and plus[: len(before)] == before
    assert live[0]["level"] == 1
    assert live[-1]["t"] <= stop_real + 1  # the engine never followed the +1 h step
    assert "wall clock is +3600 s off the chair clock" in log
    # Restart after 2 h down: nothing replayed; the next one is due one interval after
    # the start, the level counting on. The start is on the chair clock: at the stop it
    # was 1 h ahead of the wall clock (never following a step back) with an alert
    # escalating, so it keeps that offset across the restart (monitord/clock.py).
    assert after[0]["level"] == at_stop1[-1]["level"] + 1
    chair2 = start2 + 3600
    assert chair2 + ESC_S - 1 <= after[0]["t"] <= chair2 + ESC_S + 1, (start2, after[0])
    assert_steady(after)
    # Restart with the wall clock behind: escalation goes on (level counting on) at once,
    # not an hour later.
    assert behind[0]["level"] == at_stop2[-1]["level"] + 1
    assert at_stop2[-1]["t"] < behind[0]["t"] <= escalations(store)[-1]["t"]
    assert_steady(behind)


async def test_chair_clock_follows_a_wall_step_when_no_timer_is_pending(tmp_path: Path) -> None:
    """A Pi without RTC boots with a wrong wall clock and NTP steps it later: with no
    alert timer pending (no session, no active alert) the chair clock catches up, so the
    readings stored from then on carry the corrected time."""
    wall = FakeWall(tmp_path)
    sim = make_sim_device("masimo-ascii", symlink=tmp_path / "ox.tty", repeat=False)
    # Group commits every 0.5 s (not 5 s): the readings are seen as soon as they are stored.
    cfg = write_config(tmp_path, {"ox": str(tmp_path / "ox.tty")}, "commit_interval_s = 0.5")
    store = Store(tmp_path / "outbox.sqlite")
    daemon = FakeWallDaemon(cfg, tmp_path / "daemon.log", wall)
    wall.set(-3 * 3600)  # booted 3 h behind
    wall.check()

    def received() -> list[float]:
        return [r["received_at"] / 1e9 for r in store.reading_rows()]

    async with sim:
        with Feed(sim, 97.0):
            try:
                daemon.start()
                await eventually(lambda: len(received()) >= 3, 30, "3 readings")
                behind = received()
                wall.set(0)  # NTP steps the clock right
                await eventually(
                    lambda: received()[-1] > time.time() - 60, 30, "readings on corrected time"
                )
                now_real = time.time()
            finally:
                daemon.stop()
    log = daemon.output()
    assert "Traceback" not in log, log
    assert all(t < now_real - 3 * 3600 + 60 for t in behind), behind
    assert received()[-1] <= now_real + 1
    assert "wall clock stepped +10800 s; the chair clock followed" in log, log
