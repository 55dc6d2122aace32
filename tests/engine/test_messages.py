"""Nurse-facing alert text and values (issue 14): whole mmHg for baselines and differences,
durations in minutes over 90 s, escalations carrying the current reading; alert ids unique
per episode, also for an engine restored from a snapshot written before episodes were
counted."""

from __future__ import annotations

import json
from typing import Any

from monitord.engine import AlertEngine, RuleSet, Sample
from monitord.models import Kind

from .conftest import run_lines


def _by(events: list[dict[str, Any]], rule: str, event: str) -> list[dict[str, Any]]:
    return [e for e in events if e["rule"] == rule and e["event"] == event]


def test_rise_message_in_whole_mmhg() -> None:
    """Baseline mean 124.33/78.67 reads 124/79; 168/100 is +44/+21 over it."""
    evs = run_lines(
        [
            '{"t": 0, "event": "session_start", "protocol": "esketamine"}',
            '{"t": 10, "event": "bp", "sys": 124, "dia": 79}',
            '{"t": 20, "event": "bp", "sys": 125, "dia": 78}',
            '{"t": 30, "event": "bp", "sys": 124, "dia": 79}',
            '{"t": 40, "event": "dose_start"}',
            '{"t": 100, "event": "bp", "sys": 168, "dia": 100}',
            '{"t": 160, "event": "bp", "sys": 168, "dia": 100}',
            '{"t": 200, "event": "end"}',
        ]
    )
    (raised,) = _by(evs, "bp.rise", "raised")
    assert "baseline 124/79: +44/+21" in raised["message"]
    assert "78.6" not in raised["message"] and "43.6" not in raised["message"]
    # the value keeps full precision
    assert abs(raised["value"]["baseline"]["dia_mmHg"] - 78.6667) < 1e-3


def test_durations_over_90_s_in_minutes() -> None:
    lines = [f'{{"t": {t}, "event": "hr", "hr": 130}}' for t in range(0, 301, 5)]
    evs = run_lines([*lines, '{"t": 400, "event": "end"}'])
    (raised,) = _by(evs, "hr.high", "raised")
    assert raised["message"] == "HR 130 bpm > 120 bpm for 5 min"
    lost = run_lines(
        [
            '{"t": 0, "event": "session_start"}',
            '{"t": 1, "event": "dose_start"}',
            '{"t": 2, "event": "device_lost", "device": "spo2"}',
            '{"t": 900, "event": "end"}',
        ]
    )
    (overdue,) = _by(lost, "tech.bp_overdue", "raised")
    assert "13 min (NIBP cycle 10 min + 3 min)" in overdue["message"]
    (dev,) = _by(lost, "tech.device_lost", "raised")
    assert "link down for 30 s" in dev["message"]


def test_escalation_carries_the_current_reading() -> None:
    evs = run_lines(
        [
            '{"t": 0, "event": "bp", "sys": 190, "dia": 112}',
            '{"t": 60, "event": "bp", "sys": 190, "dia": 112}',
            '{"t": 200, "event": "bp", "sys": 176, "dia": 104}',
            '{"t": 370, "event": "end"}',
        ]
    )
    (esc,) = _by(evs, "bp.severe", "escalated")
    assert esc["t"] == 360.0 and esc["level"] == 1
    assert esc["value"]["current"] == {"t": 200.0, "sys_mmHg": 176.0, "dia_mmHg": 104.0}
    assert esc["value"]["sys_mmHg"] == 190.0  # what raised it stays
    assert esc["message"].endswith("; now BP 176/104")


def test_alert_id_unique_per_episode_across_a_restore() -> None:
    """Raise, clear, (restart,) raise again within one millisecond: two ids."""
    eng = AlertEngine()
    first = eng.feed(Sample(10.0, "c1", "bp", Kind.BP, {}, valid=False))
    first += eng.feed(Sample(10.0002, "c1", "bp", Kind.BP, {"sys_mmHg": 120, "dia_mmHg": 80}))
    restored = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())))
    again = restored.feed(Sample(10.0004, "c1", "bp", Kind.BP, {}, valid=False))
    assert [e.event for e in first + again] == ["raised", "cleared", "raised"]
    assert first[0].alert_id != again[0].alert_id
    # docs/alerts.md "Alert events": "the id then gets a `-2`, `-3` ... suffix"
    assert again[0].alert_id == f"{first[0].alert_id}-2"


def test_snapshot_written_before_issue_14_still_loads() -> None:
    """A snapshot without the episode counts and current readings restores; the restored
    active alarm keeps its id and escalates (without a current reading to show)."""
    eng = AlertEngine()
    out = eng.feed(Sample(0.0, "c1", "bp", Kind.BP, {"sys_mmHg": 210, "dia_mmHg": 100}))
    snap = json.loads(json.dumps(eng.snapshot()))
    for ch in snap["chairs"].values():
        del ch["episodes"], ch["current"]
    restored = AlertEngine.restore(snap)
    (esc,) = restored.advance(125.0)
    assert (esc.rule, esc.event, esc.alert_id) == ("bp.crisis", "escalated", out[0].alert_id)
    assert "current" not in esc.value


def test_bp_low_clear_names_a_map_only_when_the_reading_gave_one() -> None:
    """A monitor giving sys/dia only clears bp.low on sys alone (clinical-rules.md: MAP >= 70
    "if given"); its `cleared` message said "MAP >= 70" all the same, a MAP it never gave."""

    def cleared(clearing: list[str]) -> str:
        evs = run_lines(
            [
                '{"t": 10, "event": "bp", "sys": 85, "dia": 55}',
                '{"t": 20, "event": "bp", "sys": 85, "dia": 55}',
                *clearing,
                '{"t": 60, "event": "end"}',
            ]
        )
        (ev,) = _by(evs, "bp.low", "cleared")
        return str(ev["message"])

    no_map = cleared(
        [
            '{"t": 30, "event": "bp", "sys": 100, "dia": 66}',
            '{"t": 40, "event": "bp", "sys": 100, "dia": 66}',
        ]
    )
    assert no_map == "BP 100/66 sys >= 95, no MAP given (2 readings): cleared"
    with_map = cleared(
        [
            '{"t": 30, "event": "bp", "sys": 100, "dia": 66, "map": 77}',
            '{"t": 40, "event": "bp", "sys": 100, "dia": 66, "map": 77}',
        ]
    )
    assert with_map == "BP 100/66 MAP 77 sys >= 95, MAP >= 70 (2 readings): cleared"


def test_check_missed_says_no_valid_bp_when_a_rejected_one_was_taken() -> None:
    """The nurse took the ~40 min check and the cuff errored: session.check_missed looks
    for a *valid* BP (clinical-rules.md), but said "No BP between 35 and 50 min", which she
    knows is untrue; and a clinic's window of 2000 s read "33.3333 min"."""
    lines = [
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}',
        '{"t": 40, "event": "dose_start"}',
        '{"t": 2440, "event": "bp", "error": true}',
        '{"t": 3100, "event": "end"}',
    ]
    (missed,) = _by(run_lines(lines), "session.check_missed", "raised")
    assert missed["message"].startswith("No valid BP between 35 and 50 min after the dose")
    rules = RuleSet.from_overrides({"session.check_missed": {"window_start_s": 2000}})
    (missed,) = _by(run_lines(lines, rules), "session.check_missed", "raised")
    assert missed["message"].startswith("No valid BP between 33.3 and 50 min after the dose")
