"""docs/alerts.md states every rule (issue 14): its tables are what the engine's rule
table generates, and each point of the tightened semantics (clinical-rules.md "Precise
semantics", `session.discharge_ready`) is stated in its text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitord.engine import RuleSet, validate_overrides
from monitord.engine.ruledoc import render, rules_table
from monitord.engine.rules import RULE_IDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"

# One phrase per rule of the semantics; whitespace (line wrapping) does not matter.
SEMANTICS = [
    "`all` phases includes `idle`",
    "All inputs at one `t` go first, in file (arrival) order, then the timers due at that `t`",
    "`end` fires every timer due at or before its `t`",
    "carry their deadline as `t`",
    "An inhibited rule is not evaluated: no `pending`, `raised` or `cleared`",
    "clear runs restart when the inhibition ends",
    "Deadlines are raise time + n x interval",
    "one that falls while the alert is inhibited or acknowledged is skipped",
    "carries its `level` (1, 2, ...)",
    "keeps escalating until acknowledged",
    "emits `acknowledged` and `cleared` at the same `t`",
    "cancels the held clear condition",
    "`t - run_start >= for`",
    "more than 10 s apart restart both the raise and the clear run",
    "contact is back on a sample whose `contact` is true or absent",
    "does not feed the HR rules",
    "unless already active; further invalid readings add nothing",
    "`tech.bp_overdue` does not re-raise until a valid BP has cleared it",
    "closed window [dose_start + 35 min, dose_start + 50 min], once, at its deadline, "
    "for `esketamine` only",
    "one alert per device or signal",
    "fixed when it is raised",
    "Without one, `bp.rise` is off (no `pending`)",
    "`bp.not_declining` keeps its absolute terms",
    "`session.discharge_ready` uses 140/90",
    "`bp.baseline_high` raises at once; it clears when mean sys <= 140 and mean dia <= 90",
    "dose_start + 120 min (`esketamine`) or dose_end + 60 min (`iv-ketamine`)",
    "advisory with priority `info` and never escalates",
    "inhibited and latched alerts count as active",
    "the last 2 valid BP of the whole session (baseline included)",
    "neither meeting the `bp.not_declining` terms (sys >= base.sys + 20, sys >= 160, "
    "dia >= 100), whatever the time",
    "every valid SpO2 of the last 5 min >= 94",
    "re-checked when observation time is met, when a low SpO2 sample leaves the 5-min "
    "window, and on every input",
    "`session_end` clears the session's alerts",
    "inhibited or not, and stops their timers",
    "Session commands out of order are refused, never implied",
    "reports it on stderr as `PATH:LINE: EVENT refused: reason` (the exit code stays 0)",
    "Every BP confirmation and clear run restarts at `session_start` and `session_end`",
    "`alert_id` is unique per alert episode for the chair's lifetime, also when the same "
    "rule raises, clears and raises again within one millisecond",
    "is history: it is stored and reported, and fed to no rule",
    "`pending` carries `alert_id: null`",
    "emits nothing in replay",
    "whole mmHg for baselines and differences",
    "durations in minutes when over 90 s",
    "on escalations the current reading",
    # a restored alert raised low (tests/faults/test_engine_resume.py)
    "raised `low`, it stays `low` and never escalates, whatever the running config gives",
    # "Overrides": a duration is of the engine's clock, not of the device's
    # (tests/faults/test_device_clocks.py, tests/test_chair_engine_time.py hold it live).
    "event time (live, the daemon's receive time of each input, never the device's clock",
]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_generated_tables_are_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m monitord.engine.ruledoc docs/alerts.md"


def test_every_rule_has_a_row() -> None:
    table = rules_table()
    for rid in RULE_IDS:
        assert f"| `{rid}` |" in table


@pytest.mark.parametrize("phrase", SEMANTICS)
def test_semantics_stated(phrase: str) -> None:
    assert _flat(phrase) in _flat(DOC.read_text(encoding="utf-8"))


def _unknown(rule_id: str, key: str, value: object) -> bool:
    problems = validate_overrides({rule_id: {key: value}})
    return any(k == f"{rule_id}.{key}" and "unknown parameter" in r for k, r in problems)


def test_the_keys_besides_the_parameters_table_are_the_ones_the_page_names() -> None:
    """docs/alerts.md "Overrides" said `latching` could be set "where the table marks it
    so": the table marks bp.crisis alone, and check-config takes `latching` on every
    physiological rule (a clinic read that it could not latch spo2.very_low, or took
    bp.severe's accepted `latching` for a typo); nor did it say session.discharge_ready
    takes no `priority`."""
    text = _flat(DOC.read_text(encoding="utf-8"))
    assert "every physiological rule takes `latching` (`true` or `false`" in text
    assert "every rule but `session.discharge_ready` (always `info`) takes `priority`" in text
    rs = RuleSet.default()
    for rid in RULE_IDS:
        if rs[rid].kind == "physiological":
            assert validate_overrides({rid: {"latching": True}}) == [], rid
        else:
            assert _unknown(rid, "latching", True), rid
        assert rs[rid].latching is (rid == "bp.crisis"), "only bp.crisis latches by default"
        discharge = rid == "session.discharge_ready"
        assert _unknown(rid, "priority", "low") is discharge, rid
        assert _unknown(rid, "escalate_s", 0) is discharge, rid


def test_each_rule_cites_its_source_as_the_page_says() -> None:
    # "each rule's source is cited in `monitord/engine/rules.py`": the row of
    # clinical-rules.md it implements, which cites the label or study (or DESIGN).
    assert "each rule's source is cited in `monitord/engine/rules.py`" in _flat(DOC.read_text())
    rs = RuleSet.default()
    for rid in RULE_IDS:
        assert rs[rid].source == f"clinical-rules.md Rules: {rid}", rid
