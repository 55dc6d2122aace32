"""A daemon restart mid-episode: the engine state goes through JSON and back and the
run continues exactly as if uninterrupted (no forgotten alarm, no alarm raised again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitord.engine import AlertEngine, RuleSet
from monitord.engine.replay import replay
from monitord.models import AlertEvent
from monitord.scenario import ScenarioEvent, load_scenario

from .conftest import CASES

EPISODES = [
    "bp_crisis_latched_ack_after_clear",  # latched + held clear across the restart
    "bp_crisis_held_clear_cancelled_by_reading",
    "hr_very_high_inhibits_high",  # time runs, inhibition, escalation timers
    "device_lost_high_while_dosing",  # device timers and escalation
    "bp_not_declining_then_discharge_ready",  # session, baseline, discharge timers
    "discharge_iv_ketamine_spo2_window",
    "check_missed_esketamine",
    "bp_invalid_skipped_by_run",  # a BP run half-way through
    "alert_id_unique_within_one_ms",  # the episode count of a millisecond survives
    "same_t_ack_at_escalation",  # a cut between inputs of one t
    "escalation_deadlines_raise_plus_n_intervals",  # deadlines from the raise time
]


def _play(eng: AlertEngine, events: list[ScenarioEvent]) -> list[AlertEvent]:
    return list(replay(eng, events))


@pytest.mark.parametrize("name", EPISODES)
def test_restart_at_every_point_gives_same_events(name: str) -> None:
    events = load_scenario(CASES / name / "scenario.jsonl")
    whole = [e.to_replay() for e in _play(AlertEngine(), events)]
    for cut in range(len(events)):
        eng = AlertEngine()
        first = _play(eng, events[:cut])
        snap = json.loads(json.dumps(eng.snapshot()))  # what the daemon writes to disk
        restored = AlertEngine.restore(snap, RuleSet.default())
        rest = _play(restored, events[cut:])
        assert [e.to_replay() for e in first + rest] == whole, f"cut at event {cut}"


def test_restored_engine_keeps_active_alarm_and_does_not_reraise(tmp_path: Path) -> None:
    eng = AlertEngine()
    events = load_scenario(CASES / "bp_crisis_latched_ack_after_clear" / "scenario.jsonl")
    out = _play(eng, events[:3])  # raised, then two clear readings: held, waiting for ack
    assert [e.event for e in out] == ["raised"]
    (tmp_path / "engine.json").write_text(json.dumps(eng.snapshot()))
    restored = AlertEngine.restore(json.loads((tmp_path / "engine.json").read_text()))
    (act,) = restored.active("chair-1")
    assert act["rule"] == "bp.crisis" and act["state"] == "clear_pending"
    assert act["alert_id"] == out[0].alert_id and not act["ack"]
    assert restored.next_deadline("chair-1") == 130.0  # the pending escalation survived
    rest = _play(restored, events[3:])
    assert [(e.t, e.event) for e in rest] == [
        (130.0, "escalated"),
        (250.0, "escalated"),
        (300.0, "acknowledged"),
        (300.0, "cleared"),
    ]
    assert {e.alert_id for e in rest} == {out[0].alert_id}


def test_snapshot_version_is_checked() -> None:
    with pytest.raises(ValueError, match="snapshot version"):
        AlertEngine.restore({"version": 99, "chairs": {}})


@pytest.mark.parametrize("name", EPISODES)
def test_latest_is_a_time_the_restored_engine_reached(name: str) -> None:
    """`AlertEngine.latest`, which a start with no clock row starts the chair clock no
    earlier than (monitord/clock.py `start_floor`): never past what the engine was fed, and
    no earlier than its open session's start, its last valid sample or an alert's raise."""
    events = load_scenario(CASES / name / "scenario.jsonl")
    assert AlertEngine().latest("chair-1") is None
    for cut in range(1, len(events) + 1):
        eng = AlertEngine()
        _play(eng, events[:cut])
        restored = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), RuleSet.default())
        latest = restored.latest("chair-1")
        ch = restored.chairs["chair-1"]
        known = [*ch.last_valid.values(), *(a.raised_t for a in ch.alerts.values())]
        known += [] if ch.session is None else [ch.session.started_t]
        if known:
            assert latest is not None and max(known) <= latest, f"cut at event {cut}"
        assert latest is None or latest <= events[cut - 1].t, f"cut at event {cut}"
