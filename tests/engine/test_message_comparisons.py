"""A message's comparison is true of the numbers it shows (clinical-rules.md: `message`
says in words what `value` carries). Baselines, rises and discharge limits are shown in
whole mmHg, but a mean of 3 readings is a third of a mmHg off a whole number: rounded, a
mean of 140.33 that raised `bp.baseline_high` read "140 > 140", a rise of 29.67 that
cleared `bp.rise` read "+30 < +30", and a discharge limit of 153.63 that a BP of 154
exceeded read "154 above 154". Such a number keeps the decimal that makes it true; and a
rise is the reading less the baseline as shown, so the numbers add up."""

from __future__ import annotations

import re
from typing import Any

from monitord.engine import RuleSet

from .conftest import run_lines

START = '{"t": 0, "event": "session_start", "protocol": "esketamine"}'


def _bp(t: float, s: float, d: float) -> str:
    return f'{{"t": {t}, "event": "bp", "sys": {s}, "dia": {d}}}'


def _one(evs: list[dict[str, Any]], rule: str, event: str) -> dict[str, Any]:
    (ev,) = [e for e in evs if e["rule"] == rule and e["event"] == event]
    return ev


def test_baseline_high_mean_reads_above_its_limit() -> None:
    # 139, 141, 141: the mean of the first two is 140 (not > 140), of all three 140.33.
    evs = run_lines([START, _bp(10, 139, 85), _bp(20, 141, 85), _bp(30, 141, 85)])
    raised = _one(evs, "bp.baseline_high", "raised")
    assert raised["message"].startswith("Baseline BP mean 140.3/85 > 140/90 (3 readings)")
    # dia the same way: 90, 90, 91 is 90.33
    evs = run_lines([START, _bp(10, 130, 90), _bp(20, 130, 90), _bp(30, 130, 91)])
    raised = _one(evs, "bp.baseline_high", "raised")
    assert raised["message"].startswith("Baseline BP mean 130/90.3 > 140/90 (3 readings)")
    # where the whole number is true it stays whole (the mean 140.5 reads 141)
    evs = run_lines([START, _bp(10, 140, 85), _bp(20, 141, 85)])
    raised = _one(evs, "bp.baseline_high", "raised")
    assert raised["message"].startswith("Baseline BP mean 141/85 > 140/90 (2 readings)")


def test_rise_clear_reads_below_its_limit() -> None:
    # baseline 124.33/78.67; 154/80 is +29.67/+1.33: under +30/+18, so it clears.
    evs = run_lines(
        [
            START,
            _bp(10, 124, 79),
            _bp(20, 125, 78),
            _bp(30, 124, 79),
            '{"t": 40, "event": "dose_start"}',
            _bp(100, 170, 90),
            _bp(160, 170, 90),
            _bp(200, 154, 80),
            _bp(260, 154, 80),
        ]
    )
    raised = _one(evs, "bp.rise", "raised")
    # a raise keeps whole mmHg (docs/alerts.md's example)
    assert "over baseline 124/79: +46/+11 >= +40/+25" in raised["message"]
    cleared = _one(evs, "bp.rise", "cleared")
    assert "over baseline 124.3/79: +29.7/+1 < +30/+18 (2 readings)" in cleared["message"]


def test_discharge_limit_reads_below_the_bp_over_it() -> None:
    # baseline sys 139.67: the discharge limit is 1.1 x 139.67 = 153.63, which 154 exceeds.
    evs = run_lines(
        [
            START,
            _bp(10, 139, 80),
            _bp(20, 140, 80),
            _bp(30, 140, 80),
            '{"t": 40, "event": "dose_start"}',
            '{"t": 100, "event": "dose_end"}',
            *(_bp(t, 150, 80) for t in range(600, 7201, 600)),
            _bp(7400, 154, 80),
            '{"t": 7500, "event": "end"}',
        ]
    )
    raised = _one(evs, "session.discharge_ready", "raised")
    assert "BP 150/80, 150/80 <= 154/90" in raised["message"]  # whole where true
    cleared = _one(evs, "session.discharge_ready", "cleared")
    assert cleared["message"].endswith("last BP 150/80, 154/80 above 153.6/90")
    for ev in (raised, cleared):
        assert not re.search(r"\b(\d+)/\d+ above \1/", ev["message"])


def test_rise_adds_up_to_the_reading_over_a_half_mmhg_baseline() -> None:
    # baseline 120.5/72.5 (2 readings) reads 121/73: 161/98 rose +40/+25 on that, where
    # rounding each on its own said "+41/+26" (161 - 121 is 40).
    evs = run_lines(
        [
            START,
            _bp(10, 120, 72),
            _bp(20, 121, 73),
            '{"t": 40, "event": "dose_start"}',
            _bp(100, 161, 98),
            _bp(160, 161, 98),
        ]
    )
    raised = _one(evs, "bp.rise", "raised")
    assert "BP 161/98 over baseline 121/73: +40/+25 >= +40/+25 (2 readings)" in raised["message"]


def test_not_declining_baseline_term_true_of_the_reading() -> None:
    # A clinic's sys_rise_ge of 19.5 over a baseline of 137.5: a BP of 157 meets it, but
    # read "sys >= 160 or >= baseline 138 + 19.5" (157.5).
    rules = RuleSet.from_overrides({"bp.not_declining": {"after_dose_s": 600, "sys_rise_ge": 19.5}})
    evs = run_lines(
        [
            START,
            _bp(10, 137, 80),
            _bp(20, 138, 80),
            '{"t": 40, "event": "dose_start"}',
            '{"t": 100, "event": "dose_end"}',
            _bp(700, 157, 80),
            _bp(800, 157, 80),
        ],
        rules,
    )
    raised = _one(evs, "bp.not_declining", "raised")
    assert "(sys >= 160 or >= baseline 137.5 + 19.5, or dia >= 100)" in raised["message"]
