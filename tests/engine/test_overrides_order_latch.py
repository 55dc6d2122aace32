"""Two engine faults that only a clinic's override shows (found by this round's audit of
the engine against clinical-rules.md; each test failed before its fix):

- an inhibitor given the same priority as the rule it inhibits was evaluated after it
  (table order), so both raised on one reading, or the inhibited rule emitted `pending`:
  clinical-rules.md "Order" ("a rule raised by a reading already inhibits lower rules on
  that same reading ... not even `pending`");
- a latched HR/SpO2 alert kept its held clear condition across a > 10 s gap between
  samples, so an `ack` right after the gap cleared it on a clear run the gap had
  restarted: "Precise semantics" (the gap "restarts both the raise and the clear run";
  "a later reading that breaks the clear run cancels the held clear condition")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitord.engine import RuleSet
from monitord.engine.rules import PRIORITY_RANK, RULE_IDS

from .conftest import run_lines


def _run(evs: list[dict[str, Any]], rules: RuleSet) -> list[dict[str, Any]]:
    return run_lines([json.dumps(e) for e in evs], rules)


@pytest.mark.parametrize("for_s", [10, 5])
def test_equal_priority_inhibitor_raises_alone(for_s: int) -> None:
    """spo2.low at high priority and confirmed in 10 s (or sooner): spo2.very_low (10 s)
    raises on the same reading and inhibits it. With 5 s, spo2.low raises first (t=5)
    and is then inhibited: one raise each, in time order."""
    rules = RuleSet.from_overrides({"spo2.low": {"priority": "high", "for_s": for_s}})
    evs = [{"t": t, "event": "spo2", "spo2": 80} for t in range(0, 21, 5)]
    out = _run([*evs, {"t": 21, "event": "end"}], rules)
    raised = [(e["t"], e["rule"]) for e in out if e["event"] == "raised"]
    want = [(10.0, "spo2.very_low")]
    assert raised == (want if for_s == 10 else [(5.0, "spo2.low"), *want])


def test_equal_priority_inhibitor_no_pending() -> None:
    rules = RuleSet.from_overrides({"bp.low": {"priority": "high"}})
    evs = [{"t": 0, "event": "bp", "sys": 75, "dia": 50}, {"t": 1, "event": "end"}]
    assert [(e["rule"], e["event"]) for e in _run(evs, rules)] == [("bp.very_low", "raised")]


@pytest.mark.parametrize("override", [{}, {"spo2.low": {"priority": "high"}},
                                      {"bp.severe": {"priority": "high"}},
                                      {"hr.high": {"priority": "high"}}])  # fmt: skip
def test_order_puts_every_inhibitor_first_and_keeps_priority(override: dict[str, Any]) -> None:
    rules = RuleSet.from_overrides(override)
    order = rules.order()
    assert sorted(order) == sorted(RULE_IDS)
    pos = {r: i for i, r in enumerate(order)}
    for r in RULE_IDS:
        for victim in rules[r].inhibits:
            assert pos[r] < pos[victim], (r, victim, order)
    ranks = [PRIORITY_RANK[rules[r].priority] for r in order]
    assert ranks == sorted(ranks), order


def _latched_hr_low(after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules = RuleSet.from_overrides({"hr.low": {"latching": True}})
    evs = [{"t": t, "event": "hr", "hr": 45} for t in range(0, 61, 5)]  # raised at 60
    evs += [{"t": t, "event": "hr", "hr": 60} for t in range(65, 126, 5)]  # held at 125
    return _run(evs + after, rules)


def test_gap_cancels_held_clear_of_latched_vital() -> None:
    out = _latched_hr_low(
        [{"t": 140, "event": "hr", "hr": 60}]  # 15 s gap: the clear run restarts here
        + [{"t": 141, "event": "ack", "rule": "hr.low"}]
        + [{"t": t, "event": "hr", "hr": 60} for t in range(145, 206, 5)]
        + [{"t": 206, "event": "end"}]
    )
    hr_low = [(e["t"], e["event"]) for e in out if e["rule"] == "hr.low"]
    # Acknowledged at once; cleared when the restarted run has held 60 s (140 + 60).
    assert hr_low == [(60.0, "raised"), (141.0, "acknowledged"), (200.0, "cleared")]


def test_without_gap_ack_clears_held_latch() -> None:
    out = _latched_hr_low([{"t": 130, "event": "hr", "hr": 60},
                           {"t": 131, "event": "ack", "rule": "hr.low"},
                           {"t": 132, "event": "end"}])  # fmt: skip
    at_ack = [(e["rule"], e["event"]) for e in out if e["t"] == 131.0]
    assert at_ack == [("hr.low", "acknowledged"), ("hr.low", "cleared")]
