"""Every `[alerts]` parameter that check-config accepts builds the rule table.

Found by an audit of the engine against clinical-rules.md ("Every threshold below is a
default that a clinic can override per rule in `[alerts]`"): `tech.device_lost`'s
`priority_dosing = "medium"` passed `monitord check-config` and then stopped `monitord
run` and `replay` at start (the table builder took every non-count parameter for a
number). This walks every parameter of every rule so that the checker and the builder
cannot disagree again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitord.engine import AlertEngine, RuleSet, validate_overrides
from monitord.engine.inputs import Link, SessionCmd
from monitord.engine.rules import _ROWS, RULE_IDS, _schema  # the checker's own table


def _another(rule_id: str, key: str, default: Any, typ: str) -> Any:
    """A valid value that differs from the default."""
    if typ == "priority":
        # Not every priority is allowed (an inhibited rule may not outrank its inhibitor).
        return next(
            p
            for p in ("high", "medium", "low")
            if p != default and not validate_overrides({rule_id: {key: p}})
        )
    if typ == "bool":
        return not default
    if typ == "count":
        return int(default) + 1
    return 1.5 if default is None else float(default) + 1.5


PARAMS = [
    (rule_id, key, default, typ)
    for rule_id in RULE_IDS
    for key, (default, typ) in _schema(_ROWS[rule_id]).items()
]


@pytest.mark.parametrize(("rule_id", "key", "default", "typ"), PARAMS)
def test_each_accepted_override_builds_and_takes_effect(
    rule_id: str, key: str, default: Any, typ: str
) -> None:
    value = _another(rule_id, key, default, typ)
    alerts: dict[str, dict[str, Any]] = {rule_id: {key: value}}
    if key == "escalate_s" and _ROWS[rule_id].priority in ("low", "info"):
        # A low rule never escalates (clinical-rules.md "Escalation"): refused alone,
        # accepted with a priority that escalates, where the inhibition order allows one.
        assert [k for k, _ in validate_overrides(alerts)] == [f"{rule_id}.escalate_s"]
        if "priority" not in _schema(_ROWS[rule_id]):
            return
        alerts[rule_id]["priority"] = _another(rule_id, "priority", "low", "priority")
    assert validate_overrides(alerts) == []
    rule = RuleSet.from_overrides(alerts)[rule_id]
    got = {
        "priority": rule.priority,
        "latching": rule.latching,
        "escalate_s": rule.escalate_s,
    }.get(key, rule.params.get(key))
    assert got == value
    assert type(got) is type(value)


def test_priority_dosing_override_is_used() -> None:
    """A device lost while dosing raises at the clinic's priority, not the default high."""
    eng = AlertEngine(RuleSet.from_overrides({"tech.device_lost": {"priority_dosing": "medium"}}))
    eng.feed(SessionCmd(0.0, "c", "start", "esketamine"))
    eng.feed(SessionCmd(1.0, "c", "dose_start"))
    eng.feed(Link(2.0, "c", "hr", up=False))
    out = eng.advance(40.0)
    assert [(e.rule, e.event, e.priority) for e in out] == [
        ("tech.device_lost", "raised", "medium")
    ]


@pytest.mark.parametrize(
    ("new", "escalates"),
    [
        # dosing's device loss now medium: the restored high one went silent (the check
        # took the rule's `priority`, low, for it)
        ({"priority": "low", "priority_dosing": "medium"}, True),
        # dosing's device loss now low: the restored high one went on escalating
        ({"priority_dosing": "low"}, False),
    ],
)
@pytest.mark.parametrize("dose_ended", [False, True], ids=["dosing", "after-dose"])
def test_a_restored_device_lost_alert_follows_the_priority_now_given_its_phase(
    new: dict[str, str], escalates: bool, dose_ended: bool
) -> None:
    """A device lost while dosing (high by default), restored under a config that changed
    tech.device_lost's priorities: it escalates as the priority the running config gives
    a device lost while dosing does (docs/alerts.md, book.interval_of)."""
    eng = AlertEngine(RuleSet.default())
    eng.feed(SessionCmd(0.0, "c", "start", "esketamine"))
    eng.feed(SessionCmd(1.0, "c", "dose_start"))
    eng.feed(Link(2.0, "c", "hr", up=False))
    assert [(e.rule, e.priority) for e in eng.advance(40.0)] == [("tech.device_lost", "high")]
    if dose_ended:
        eng.feed(SessionCmd(50.0, "c", "dose_end"))
    assert validate_overrides({"tech.device_lost": new}) == []
    restored = AlertEngine.restore(
        json.loads(json.dumps(eng.snapshot())), RuleSet.from_overrides({"tech.device_lost": new})
    )
    restored.resume(100.0)
    out = restored.advance(100.0 + 130.0)
    got = [(e.t, e.level) for e in out if e.rule == "tech.device_lost"]
    assert got == ([(220.0, 1)] if escalates else []), got
