"""The rule table: defaults as in clinical-rules.md, overrides validated."""

from __future__ import annotations

import pytest

from monitord.engine.rules import RULE_IDS, RuleError, RuleSet, validate_overrides


def test_table_has_every_rule_with_its_source() -> None:
    rs = RuleSet.default()
    assert len(RULE_IDS) == 20
    for rid in RULE_IDS:
        assert rs[rid].source.endswith(rid)
    assert rs["bp.crisis"].latching and not rs["bp.severe"].latching
    assert rs["bp.severe"].params["confirm"] == 2 and rs["bp.crisis"].params["confirm"] == 1
    assert rs["hr.high"].params["for_s"] == 300 and rs["spo2.low"].params["clear_for_s"] == 30
    assert rs["bp.crisis"].escalate_s == 120 and rs["bp.low"].escalate_s == 300
    assert rs["bp.rise"].escalate_s is None and rs["session.discharge_ready"].priority == "info"


def test_evaluation_order_is_priority_then_table() -> None:
    order = RuleSet.default().order()
    assert order[:5] == ["bp.crisis", "bp.very_low", "hr.very_high", "hr.very_low", "spo2.very_low"]
    assert order[-1] == "session.discharge_ready"


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        ({"bp.sever": {}}, ("bp.sever", "unknown rule id")),
        ({"bp.severe": {"confirms": 2}}, ("bp.severe.confirms", "unknown parameter")),
        ({"bp.severe": {"confirm": 0}}, ("bp.severe.confirm", "must be an integer >= 1")),
        ({"bp.severe": {"confirm": 2.5}}, ("bp.severe.confirm", "must be an integer >= 1")),
        ({"bp.severe": {"confirm": True}}, ("bp.severe.confirm", "must be an integer >= 1")),
        ({"hr.high": {"for_s": -1}}, ("hr.high.for_s", "must be a number of seconds >= 0")),
        ({"hr.high": {"hr_gt": "120"}}, ("hr.high.hr_gt", "must be a number")),
        ({"bp.low": {"priority": "urgent"}}, ("bp.low.priority", "must be one of")),
        ({"tech.sensor_off": {"latching": True}}, ("tech.sensor_off.latching", "unknown")),
        ({"hr.high": {"clear_hr_lt": 130}}, ("hr.high.clear_hr_lt", "must be <= hr_gt")),
        ({"bp.rise": {"priority": "high"}}, ("bp.rise.priority", "must not be above")),
        # "low never escalates" (clinical-rules.md "Escalation"): a low rule's escalate_s
        # made it escalate all the same.
        ({"bp.rise": {"escalate_s": 60}}, ("bp.rise.escalate_s", "low rule never escalates")),
        (
            {"hr.high": {"priority": "low", "escalate_s": 60}},
            ("hr.high.escalate_s", "low rule never escalates"),
        ),
        (
            {"tech.device_lost": {"priority": "low", "priority_dosing": "low", "escalate_s": 9}},
            ("tech.device_lost.escalate_s", "low rule never escalates"),
        ),
        # a refused priority is said once, not again as "a info rule never escalates"
        (
            {"tech.sensor_off": {"priority": "info", "escalate_s": 60}},
            ("tech.sensor_off.priority", "must be one of high, medium, low"),
        ),
    ],
)
def test_bad_overrides(alerts: dict[str, dict[str, object]], problem: tuple[str, str]) -> None:
    got = validate_overrides(alerts)
    assert len(got) == 1
    assert got[0][0] == problem[0] and problem[1] in got[0][1]
    with pytest.raises(RuleError):
        RuleSet.from_overrides(alerts)


def test_good_overrides_apply() -> None:
    rs = RuleSet.from_overrides(
        {"bp.severe": {"confirm": 3, "sys_ge": 175, "escalate_s": 0}, "bp.low": {"latching": True}}
    )
    assert rs["bp.severe"].params["confirm"] == 3 and rs["bp.severe"].params["sys_ge"] == 175
    assert rs["bp.severe"].escalate_s is None and rs["bp.low"].latching
    assert validate_overrides({"hr.high": {"hr_gt": 125.5, "for_s": 0}}) == []
    # escalate_s 0 (never) is fine on a low rule; a rule that is low only outside dosing
    # keeps its escalate_s for its high alerts (the book keeps its low ones silent).
    assert validate_overrides({"bp.rise": {"escalate_s": 0}}) == []
    assert validate_overrides({"tech.device_lost": {"priority": "low", "escalate_s": 60}}) == []
