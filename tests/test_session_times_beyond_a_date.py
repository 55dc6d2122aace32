"""An `[alerts]` duration that puts a session's time past the year 9999 has no date to show:
`esketamine_observe_s = 1e12` or `tech.bp_overdue.cycle_s = 1e12` (an admin's "never", or
a typo; check-config passes them: the contract bounds no override) crashed the chair's task
at every `dose_start` with "ValueError: year 33715 is out of range" while it told the
station when observation is met, and the patient's alarms went unraised (found by the s44
config hunt: a real `monitord run`, SpO2 80% for 55 s after the dose, no alarm). The
session now shows no such time, and the chair carries on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitord.chair import QueuedCommand
from monitord.engine.inputs import SessionCmd
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading
from tests.kit import SetClock, make_chair

T0 = 1_800_000_000.0  # the chair clock at the start (epoch s)
ALERTS = (
    '[alerts."session.discharge_ready"]\nesketamine_observe_s = 1e12\n'
    '[alerts."tech.bp_overdue"]\ncycle_s = 1e12\n'
)


def spo2(t: float, pct: float) -> Reading:
    at = datetime.fromtimestamp(T0 + t, UTC)
    return Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": pct}, at, at)


def test_a_session_time_past_year_9999_is_not_shown_and_alarms_still_raise(
    tmp_path: Path,
) -> None:
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    clock = SetClock(T0)
    chair = make_chair(tmp_path, hub, alerts=ALERTS, clock=clock)
    clock.t = T0
    chair.process([QueuedCommand(SessionCmd(T0, "chair-1", "start", "esketamine"))])
    clock.t = T0 + 10
    chair.process([QueuedCommand(SessionCmd(T0 + 10, "chair-1", "dose_start"))])
    for t in range(11, 26):  # SpO2 80 % for 14 s: spo2.very_low after 10 s
        clock.t = T0 + t
        chair.process([spo2(t, 80.0)])

    sessions = [b.session for b in batches if b.session is not None]
    dosing = [s for s in sessions if s["phase"] == "dosing"]
    assert dosing and all(s["observation_met"] is None for s in dosing)
    assert all(s["bp_due"] is None for s in dosing)
    raised = [(e.rule, e.t - T0) for b in batches for e in b.events if e.event == "raised"]
    assert ("spo2.very_low", 21.0) in raised
