"""clinical-rules.md "Valid readings (artifact rejection)" at its bounds, which are inclusive:
BP 50 <= sys <= 260, 20 <= dia <= 160, sys - dia >= 10, dia <= map <= sys; HR 20..250 bpm;
SpO2 50..100 %. A value on a bound is a reading like any other (it raises what it meets);
one past it is skipped by every physiological rule, and an invalid HR/SpO2 sample is
counted. The differential tests' levels straddle the thresholds, not these bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitord.engine import AlertEngine
from monitord.engine.replay import replay
from monitord.scenario import parse_scenario


def _run(lines: list[dict[str, Any]]) -> tuple[list[tuple[float, str, str]], AlertEngine]:
    eng = AlertEngine()
    evs = replay(eng, parse_scenario([json.dumps(x) for x in lines]))
    return [(e.t, e.rule, e.event) for e in evs], eng


def _every(kind: str, field: str, value: float, start: int, stop: int) -> list[dict[str, Any]]:
    return [{"t": t, "event": kind, field: value} for t in range(start, stop + 1, 5)]


# Before the first escalation of anything raised here (120 s at the earliest).
END = {"t": 100, "event": "end"}


@pytest.mark.parametrize(
    ("samples", "want"),
    [
        # HR 20 is valid (< 40 for 30 s: hr.very_low); 19 is not (nothing).
        (_every("hr", "hr", 20, 0, 30), [(30.0, "hr.very_low", "raised")]),
        (_every("hr", "hr", 19, 0, 30), []),
        # HR 250 is valid (> 150 for 60 s: hr.very_high); 251 is not.
        (_every("hr", "hr", 250, 0, 60), [(60.0, "hr.very_high", "raised")]),
        (_every("hr", "hr", 251, 0, 60), []),
        # SpO2 50 is valid (< 85 for 10 s: spo2.very_low); 49 is not.
        (_every("spo2", "spo2", 50, 0, 10), [(10.0, "spo2.very_low", "raised")]),
        (_every("spo2", "spo2", 49, 0, 10), []),
        # SpO2 100 is valid: 30 s of it clears spo2.very_low (>= 88); 101 does not.
        (
            _every("spo2", "spo2", 80, 0, 10) + _every("spo2", "spo2", 100, 15, 45),
            [(10.0, "spo2.very_low", "raised"), (45.0, "spo2.very_low", "cleared")],
        ),
        (
            _every("spo2", "spo2", 80, 0, 10) + _every("spo2", "spo2", 101, 15, 45),
            [(10.0, "spo2.very_low", "raised")],
        ),
    ],
    ids=["hr20", "hr19", "hr250", "hr251", "spo2_50", "spo2_49", "spo2_100", "spo2_101"],
)
def test_vital_bounds_are_inclusive(
    samples: list[dict[str, Any]], want: list[tuple[float, str, str]]
) -> None:
    got, eng = _run([*samples, END])
    assert got == want
    # "invalid samples are counted and skipped"
    value = {"hr": (20, 250), "spo2": (50, 100)}
    invalid = sum(
        1 for s in samples if not value[s["event"]][0] <= s[s["event"]] <= value[s["event"]][1]
    )
    assert eng.chairs["chair-1"].invalid_samples == invalid


def _bp(t: float, s: float, d: float, m: float | None = None) -> dict[str, Any]:
    return {"t": t, "event": "bp", "sys": s, "dia": d} | ({} if m is None else {"map": m})


@pytest.mark.parametrize(
    ("reading", "valid"),
    [
        (_bp(0, 260, 100), True),  # sys on its upper bound: crisis
        (_bp(0, 261, 100), False),
        (_bp(0, 250, 160), True),  # dia on its upper bound: crisis
        (_bp(0, 250, 161), False),
        (_bp(0, 130, 120), True),  # pulse pressure exactly 10: dia >= 120 is a crisis
        (_bp(0, 129, 120), False),
        (_bp(0, 210, 100, 100), True),  # MAP equal to dia
        (_bp(0, 210, 100, 210), True),  # MAP equal to sys
        (_bp(0, 210, 100, 99), False),
        (_bp(0, 210, 100, 211), False),
    ],
)
def test_bp_bounds_are_inclusive(reading: dict[str, Any], valid: bool) -> None:
    got, _ = _run([reading, END])
    want = [(0.0, "bp.crisis", "raised")] if valid else [(0.0, "tech.bp_invalid", "raised")]
    assert got == want


def test_bp_low_bounds_are_inclusive() -> None:
    # sys 50 and dia 20 are valid: sys < 80 raises bp.very_low at once; 49 and 19 are not.
    got, _ = _run([_bp(0, 50, 20), END])
    assert got == [(0.0, "bp.very_low", "raised")]
    for s, d in ((49, 20), (60, 19)):
        got, _ = _run([_bp(0, s, d), END])
        assert got == [(0.0, "tech.bp_invalid", "raised")], (s, d)
