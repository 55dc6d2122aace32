"""A device's memory record (a stored sample) feeds no rule (clinical-rules.md "Precise
semantics"), and it must not change the order of what the engine says either. Before, a
stored sample of a chair not yet seen made that chair, putting it first among the chairs
whose events fall due at one instant: two chairs' escalations came out swapped. Found by
tests/engine/test_properties.py::test_stored_samples_change_nothing (CI, 2026-12-05)."""

from __future__ import annotations

from typing import Any

from monitord.engine import AlertEngine, EngineInput, Sample
from monitord.models import Kind


def spo2(t: float, chair: str, pct: int) -> Sample:
    return Sample(t=t, chair=chair, device="spo2", kind=Kind.SPO2, values={"spo2_pct": pct})


def events(stream: list[EngineInput], end: float) -> list[dict[str, Any]]:
    eng = AlertEngine()
    out = []
    for ev in stream:
        out += eng.advance(ev.t, strict=True)
        out += eng.feed(ev)
    out += eng.advance(end)
    return [e.to_replay() for e in out]


def test_a_stored_sample_of_a_chair_not_yet_seen_changes_no_order() -> None:
    # c2 then c1 at each instant: both chairs' SpO2 very low, raised and escalating
    # together (unacknowledged), so their events share each instant.
    live: list[EngineInput] = [
        s for t in range(1, 60, 5) for s in (spo2(float(t), "c2", 80), spo2(float(t), "c1", 80))
    ]
    history = Sample(
        t=0.5, chair="c1", device="hr", kind=Kind.HR, values={"hr_bpm": 35}, stored=True
    )
    without = events(live, 600.0)
    assert [e["chair"] for e in without if e["event"] == "escalated"][:2] == ["c2", "c1"]
    assert events([history, *live], 600.0) == without
