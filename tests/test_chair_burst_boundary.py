"""A BP record held while its connection's burst is sorted (monitord/history.py) keeps its
place among the chair's inputs: a session command received after it waits for the burst
to end (monitord/chair_records.py), so the reading is taken in the phase and session it
was received in (clinical-rules.md "Baseline": the readings taken in `baseline`), and the
engine's timers wait with the command (none fires in the session it ends). The whole path
on a real BLE cuff: tests/ble/test_burst_session_boundary.py; here the chair is given its
inputs at set times (tests/test_chair_engine_time.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

import monitord.chair as chair_mod
from monitord.chair import ChairRuntime, LinkChange, QueuedCommand
from monitord.chair_records import WAIT_MAX_S
from monitord.engine.inputs import Ack, SessionCmd
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading
from tests.kit import SetClock, make_chair

T0 = 1_800_000_000.0  # the chair clock at the start (epoch s)


def bp(t: float, sys_: float) -> Reading:
    at = datetime.fromtimestamp(T0 + t, UTC)
    return Reading("chair-1", "cuff", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": 80.0}, at, at)


def cmd(t: float, action: Literal["start", "dose_start", "end"]) -> QueuedCommand:
    return QueuedCommand(SessionCmd(T0 + t, "chair-1", action, "esketamine"))


class Chair:
    """A chair on a set clock; the burst bookkeeping's monotonic time follows it 1:1."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        hub = Hub()
        self.batches: list[CommittedBatch] = []
        hub.subscribe(self.batches.append, "test")
        self.clock = SetClock(T0)
        self.rt: ChairRuntime = make_chair(tmp_path, hub, clock=self.clock)
        monkeypatch.setattr("monitord.chair.time.monotonic", lambda: self.clock.t - T0 + 1000.0)
        monkeypatch.setattr(
            "monitord.chair_records.time.monotonic", lambda: self.clock.t - T0 + 1000.0
        )

    def at(self, t: float, *items: chair_mod.Item) -> None:
        self.clock.t = T0 + t
        self.rt.process(list(items))

    def measured(self, t: float, sys_: float) -> None:
        """The cuff connects, sends its new measurement (held: a burst may follow)."""
        self.at(t - 0.5, LinkChange("cuff", True, T0 + t - 0.5))
        self.at(t, bp(t, sys_))
        assert self.rt.history.holding == 1

    def events(self) -> list[tuple[str, str, float]]:
        return [(e.rule, e.event, e.t - T0) for b in self.batches for e in b.events]


def test_a_bp_received_in_baseline_counts_in_the_baseline_though_dose_start_came_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, cmd(0.0, "start"))
    c.measured(60.0, 122.0)
    c.at(70.0, LinkChange("cuff", False, T0 + 70.0))  # it hangs up: the burst ends
    c.measured(300.0, 124.0)  # the second baseline BP, held ...
    c.at(300.5, cmd(300.5, "dose_start"))  # ... when the nurse starts the dose
    for t in (301.5, 302.5, 303.5):  # the chair task's ticks: the burst ends
        c.at(t)
    assert c.rt.history.holding == 0
    # Two baseline BPs: a baseline (before: dose_start went first, one BP in baseline,
    # session.no_baseline raised and baseline-relative rules off for the session).
    assert [e for e in c.events() if e[0] == "session.no_baseline"] == []
    assert c.rt.engine.phase("chair-1") == "dosing"
    sessions = [(s.action, s.t - T0) for b in c.batches for s in b.sessions]
    assert sessions == [("start", 0.0), ("dose_start", 300.5)]


def test_timers_wait_with_a_session_end_that_waits_for_a_held_bp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, cmd(0.0, "start"))
    c.at(10.0, cmd(10.0, "dose_start"))  # no baseline: session.no_baseline, overdue at 790
    c.measured(788.5, 118.0)  # the BP due, received before the overdue time
    c.at(789.0, cmd(789.0, "end"))  # the nurse ends the session: waits for the burst
    for t in (789.5, 790.5, 791.5):  # ticks past the overdue time; the burst ends at 791.5
        c.at(t)
    assert c.rt.history.holding == 0
    got = c.events()
    # The BP came in time and the session ended before the overdue time: no overdue alarm
    # (before the timers waited, it was raised at 790 while the reading was held).
    assert [e for e in got if e[0] == "tech.bp_overdue"] == [], got
    assert [(r, ev) for r, ev, _ in got] == [
        ("session.no_baseline", "raised"),
        ("session.no_baseline", "cleared"),
    ]
    times = [t for *_, t in got]
    assert times == sorted(times)
    assert c.rt.engine.phase("chair-1") == "idle"


def test_a_held_bp_of_one_patient_never_confirms_an_alarm_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, cmd(0.0, "start"))
    c.measured(600.0, 186.0)  # A's last BP (bp.severe: 1 of 2), held ...
    c.at(600.5, cmd(600.5, "end"))  # ... when A's session ends
    c.at(601.0, cmd(601.0, "start"))  # and B's starts
    for t in (602.0, 603.0):
        c.at(t)
    assert c.rt.history.holding == 0
    c.at(700.0, LinkChange("cuff", False, T0 + 700.0))
    c.measured(900.0, 184.0)  # B's first BP
    for t in (901.0, 902.0, 903.0):
        c.at(t)
    severe = [(ev, t) for r, ev, t in c.events() if r == "bp.severe"]
    # "Every BP confirmation ... restarts at session_start": A's pending, then B's own
    # first reading pending again; before, A's BP (fed after B's start) and B's first
    # confirmed bp.severe for B.
    assert [ev for ev, _ in severe] == ["pending", "pending"], severe
    assert severe[0][1] <= 600.5 < 601.0 <= severe[1][1]


def test_a_burst_that_goes_on_holds_a_session_command_and_the_vitals_after_it_at_most_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, cmd(0.0, "start"))
    c.measured(100.0, 120.0)  # a device that goes on sending records 1.5 s apart
    c.at(100.5, cmd(100.5, "end"))
    spo2_at = datetime.fromtimestamp(T0 + 101.0, UTC)
    c.at(101.0, Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, spo2_at, spo2_at))
    t = 100.0
    while t < 100.5 + WAIT_MAX_S + 3.0:
        t += 1.5
        c.at(t, bp(t, 120.0 + t / 100))
        if c.rt.engine.phase("chair-1") == "idle":
            break
    assert c.rt.history.holding > 0  # the burst still goes on ...
    # ... and the command went ahead once it had waited WAIT_MAX_S, the SpO2 after it too.
    assert 100.5 + WAIT_MAX_S <= t <= 100.5 + WAIT_MAX_S + 1.5
    assert [r.kind for b in c.batches for r in b.readings] == [Kind.SPO2]


def cuff_bp(device: str, t: float, sys_: float) -> Reading:
    at = datetime.fromtimestamp(T0 + t, UTC)
    return Reading("chair-1", device, Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": 80.0}, at, at)


def start(t: float, sid: str) -> QueuedCommand:
    return QueuedCommand(SessionCmd(T0 + t, "chair-1", "start", "esketamine", session_id=sid))


def stored_bps(c: Chair) -> list[tuple[str, float | None, str | None]]:
    """The BP readings in the store, (device, sys, session id), by measured time."""
    return [
        (r.device, r.values["sys_mmHg"], sid)
        for r, sid in c.rt.store.outbox.readings("chair-1")
        if r.kind == Kind.BP
    ]


async def test_a_shutdown_while_a_command_waits_takes_the_held_bp_then_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's stop (daemon.py `_shutdown`: inputs stopped, then `drain`) resolves a
    # held burst at once: the waiting commands go after its reading, and are answered.
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, start(0.0, "A"))
    c.measured(600.0, 150.0)
    loop = asyncio.get_running_loop()
    end_reply: asyncio.Future[str | None] = loop.create_future()
    start_reply: asyncio.Future[str | None] = loop.create_future()
    end = QueuedCommand(SessionCmd(T0 + 600.5, "chair-1", "end", "esketamine"), end_reply)
    c.at(600.5, end)
    c.clock.t = T0 + 601.0
    c.rt.submit(QueuedCommand(start(601.0, "B").engine_input, start_reply))
    assert not end_reply.done()  # waits for the burst
    c.rt.drain()
    assert c.rt.history.holding == 0
    assert end_reply.result() is None and start_reply.result() is None
    assert stored_bps(c) == [("cuff", 150.0, "A")]
    sessions = [(s.action, s.session_id) for b in c.batches for s in b.sessions]
    assert sessions == [("start", "A"), ("end", "A"), ("start", "B")]


def test_a_burst_ended_by_its_link_going_down_while_a_command_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, start(0.0, "A"))
    c.measured(600.0, 150.0)
    c.at(600.5, cmd(600.5, "end"))
    spo2_at = datetime.fromtimestamp(T0 + 600.7, UTC)
    c.at(600.7, Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, spo2_at, spo2_at))
    assert [r for b in c.batches for r in b.readings if r.kind == Kind.SPO2] == []
    c.at(601.0, LinkChange("cuff", False, T0 + 601.0))  # the cuff hangs up: burst over
    got = [(r.kind, sid) for r, sid in c.rt.store.outbox.readings("chair-1")]
    assert got == [(Kind.BP, "A"), (Kind.SPO2, None)]  # the SpO2 came after the end
    assert c.rt.engine.phase("chair-1") == "idle"


def test_two_cuffs_bursts_overlapping_a_session_end_both_stay_in_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, start(0.0, "A"))
    c.at(599.0, LinkChange("cuff", True, T0 + 599.0), LinkChange("arm2", True, T0 + 599.0))
    c.at(600.0, cuff_bp("cuff", 600.0, 150.0))
    c.at(600.3, cuff_bp("arm2", 600.3, 140.0))
    c.at(600.5, cmd(600.5, "end"))
    c.at(601.0, LinkChange("arm2", False, T0 + 601.0))  # the second's burst ends first
    assert c.rt.engine.phase("chair-1") == "baseline"  # the end still waits for the first
    c.at(601.5, start(601.5, "B"))
    for t in (602.1, 602.6):  # the first cuff's burst ends (2 s quiet)
        c.at(t)
    assert c.rt.history.holding == 0
    assert stored_bps(c) == [("cuff", 150.0, "A"), ("arm2", 140.0, "A")]  # by measured time
    sessions = [(s.action, s.session_id) for b in c.batches for s in b.sessions]
    assert sessions == [("start", "A"), ("end", "A"), ("start", "B")]


async def test_an_ack_behind_a_waiting_command_is_answered_after_it_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Chair(tmp_path, monkeypatch)
    c.at(0.0, start(0.0, "A"))
    c.measured(600.0, 150.0)
    loop = asyncio.get_running_loop()
    answers: list[str] = []
    end_reply: asyncio.Future[str | None] = loop.create_future()
    ack_reply: asyncio.Future[str | None] = loop.create_future()
    end_reply.add_done_callback(lambda _: answers.append("end"))
    ack_reply.add_done_callback(lambda _: answers.append("ack"))
    c.at(600.5, QueuedCommand(SessionCmd(T0 + 600.5, "chair-1", "end", "esketamine"), end_reply))
    c.at(600.7, QueuedCommand(Ack(T0 + 600.7, "chair-1", alert_id="chair-1:x:1"), ack_reply))
    assert not end_reply.done() and not ack_reply.done()
    for t in (601.5, 602.5):
        c.at(t)
    await asyncio.sleep(0)  # the futures' callbacks
    assert end_reply.result() is None
    assert ack_reply.result()  # nothing to acknowledge: refused, answered
    assert answers == ["end", "ack"]
