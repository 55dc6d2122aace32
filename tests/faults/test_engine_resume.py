"""Issue 12 defect 4, engine part: `AlertEngine.resume(t)` after a restore at `t` replays
no missed escalation and starts no burst (the daemon-level proof is in
test_clock_steps.py; this pins each kind of timer)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitord.engine import AlertEngine, Link, RuleSet, Sample, SessionCmd
from monitord.models import Kind

C = "chair-1"


def restored(eng: AlertEngine) -> AlertEngine:
    return AlertEngine.restore(eng.snapshot())


def test_resume_replays_no_missed_timer() -> None:
    eng = AlertEngine()
    eng.feed(SessionCmd(0.0, C, "start", "esketamine"))
    eng.feed(SessionCmd(10.0, C, "dose_start"))  # overdue BP at 10 + 780
    for t in range(20, 32):  # spo2.very_low (high: escalates every 120 s) at 30
        eng.feed(Sample(float(t), C, "ox", Kind.SPO2, {"spo2_pct": 80.0}))
    eng.feed(Link(40.0, C, "cuff", False))  # device_lost due at 70
    assert "spo2.very_low" in [a["rule"] for a in eng.active(C)]

    # Down for 2 h: 60 escalations, the overdue BP, the missed 40-min check and the lost
    # cuff fell due meanwhile.
    start = 31.0 + 7200
    eng = restored(eng)
    eng.resume(start)
    out = eng.advance(start + 130)
    got = [(e.rule, e.event, e.t, e.level) for e in out]
    assert got == [
        # the missed deadlines fire at the start (each escalates from there, no burst)
        ("session.check_missed", "raised", start, None),
        ("tech.bp_overdue", "raised", start, None),
        ("tech.device_lost", "raised", start + 30, None),  # lost from the start, 30 s on
        ("spo2.very_low", "escalated", start + 120, 1),  # one interval on, level counting on
    ]


def test_after_a_quick_restart_the_next_escalation_is_one_interval_after_the_start() -> None:
    """clinical-rules.md "Delivery of alarms": "after a restart the next escalation of a
    restored alert is due one interval after the start, with the level counting on", also
    when its old deadline had not come yet (until 2026-12-02 that one kept its time)."""
    eng = AlertEngine()
    for t in range(0, 12):
        eng.feed(Sample(float(t), C, "ox", Kind.SPO2, {"spo2_pct": 80.0}))
    out = eng.advance(135.0)  # spo2.very_low raised at 10: level 1 at 130
    assert [(e.event, e.t, e.level) for e in out] == [("escalated", 130.0, 1)]
    eng = restored(eng)
    eng.resume(200.0)  # a quick restart: level 2 was due at 250, not missed
    assert eng.next_deadline(C) == 320.0
    out = eng.advance(330.0)
    assert [(e.event, e.t, e.level) for e in out] == [("escalated", 320.0, 2)]


def _crisis_then_restart(rules: RuleSet, start: float) -> AlertEngine:
    """bp.crisis (high: every 120 s) raised at 10, level 1 at 130; the daemon restarts at
    `start` with `rules` as its running config."""
    eng = AlertEngine()
    eng.feed(Sample(10.0, C, "cuff", Kind.BP, {"sys_mmHg": 210.0, "dia_mmHg": 100.0}))
    assert [(e.event, e.level) for e in eng.advance(135.0)] == [("escalated", 1)]
    eng = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), rules)
    eng.resume(start)
    return eng


@pytest.mark.parametrize(
    "alerts",
    [
        {"bp.crisis": {"escalate_s": 0}},  # fired once at the restart before 2026-12-02
        # made low (and what it inhibits with it, as validation wants): low never
        # escalates; the restored high alert escalated every 120 s on
        {"bp.crisis": {"priority": "low"}, "bp.severe": {"priority": "low"}},
    ],
    ids=["escalate_s_0", "priority_low"],
)
def test_restored_alert_of_a_rule_the_running_config_does_not_escalate_stays_silent(
    alerts: dict[str, dict[str, Any]],
) -> None:
    """clinical-rules.md "Escalation": low never escalates; a rule that does not escalate
    under the running config emits no `escalated`, also for an alert restored from a
    snapshot written under a config in which it did."""
    eng = _crisis_then_restart(RuleSet.from_overrides(alerts), 1000.0)
    assert eng.next_deadline(C) is None
    assert eng.advance(5000.0) == []
    (act,) = eng.active(C)
    assert act["rule"] == "bp.crisis" and act["level"] == 1  # still active, as it was


def test_restored_alert_of_a_rule_that_escalates_again_escalates_one_interval_on() -> None:
    """The other way round: restored (with no escalation timer) into a config under which
    its rule escalates, the alert escalates one interval after the start, level counting
    on ("Delivery of alarms")."""
    eng = AlertEngine(RuleSet.from_overrides({"bp.crisis": {"escalate_s": 0}}))
    eng.feed(Sample(10.0, C, "cuff", Kind.BP, {"sys_mmHg": 210.0, "dia_mmHg": 100.0}))
    assert eng.advance(500.0) == [] and eng.next_deadline(C) is None
    eng = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), RuleSet.default())
    eng.resume(1000.0)
    out = eng.advance(1240.0)
    assert [(e.event, e.t, e.level) for e in out] == [
        ("escalated", 1120.0, 1),
        ("escalated", 1240.0, 2),
    ]


@pytest.mark.parametrize("rule", ["bp.severe", "bp.rise"])
def test_a_restored_low_alert_stays_low_under_a_config_that_escalates_its_rule(rule: str) -> None:
    """docs/alerts.md said a restored alert of a rule made `low` stays silent and "the
    other way round, it escalates one interval after the start": an alert raised `low`
    (bp.severe overridden low; bp.rise, low by default) restarted under a config giving
    its rule `medium` stays low and silent ("low never escalates"), as the station shows
    it; the rule's next alert is medium and escalates."""
    bp = [(10.0, 185.0), (20.0, 185.0)] if rule == "bp.severe" else [(10.0, 170.0), (20.0, 170.0)]
    eng = AlertEngine(RuleSet.from_overrides({"bp.severe": {"priority": "low"}}))
    if rule == "bp.rise":
        eng = AlertEngine()
        eng.feed(SessionCmd(0.0, C, "start", "esketamine"))
        for t in (1.0, 2.0):
            eng.feed(Sample(t, C, "cuff", Kind.BP, {"sys_mmHg": 120.0, "dia_mmHg": 80.0}))
        eng.feed(SessionCmd(3.0, C, "dose_start"))
    for t, sys_ in bp:
        eng.feed(Sample(t, C, "cuff", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": 90.0}))
    (act,) = (a for a in eng.active(C) if a["rule"] == rule)
    assert act["priority"] == "low"
    running = RuleSet.from_overrides({rule: {"priority": "medium"}})
    eng = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), running)
    eng.resume(1000.0)
    assert [e for e in eng.advance(5000.0) if e.rule == rule] == []
    (act,) = (a for a in eng.active(C) if a["rule"] == rule)
    assert act["priority"] == "low" and act["level"] == 0
    # Cleared, then raised again: the new alert is the running config's medium.
    for t, sys_ in [(5010.0, 130.0), (5020.0, 130.0), *((t + 5020.0, s) for t, s in bp)]:
        eng.feed(Sample(t, C, "cuff", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": 80.0}))
    out = [(e.event, e.priority, e.t) for e in eng.advance(5400.0) if e.rule == rule]
    assert out == [("escalated", "medium", 5340.0)], out


def test_after_a_restart_at_a_fractional_time_deadlines_are_start_plus_n_intervals() -> None:
    """After a restart the deadlines are start + n x interval exactly: adding 120 to the
    previous deadline drifts in floating point (from 146.323 the 8th sum is
    1106.3229999999999, not 1106.323). The grid survives a snapshot taken after the
    restart (restored without a restart, as within one run)."""
    start = 146.323
    eng = _crisis_then_restart(RuleSet.default(), start)
    first = eng.advance(start + 4 * 120)
    eng = AlertEngine.restore(json.loads(json.dumps(eng.snapshot())), RuleSet.default())
    rest = eng.advance(start + 8 * 120)
    got = [(e.t, e.level) for e in first + rest]
    assert got == [(start + n * 120, n + 1) for n in range(1, 9)]
