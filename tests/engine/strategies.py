"""Hypothesis strategies: random but clinically shaped streams of engine inputs.

Uniformly random values would almost never hold a condition for 60-300 s, so the stream is
built from blocks: each block keeps one chair's HR or SpO2 near a level (around the rule
thresholds) for a while, with BP readings, artifacts, session commands, acks and link
changes sprinkled in.
"""

from __future__ import annotations

from hypothesis import strategies as st

from monitord.engine import Ack, EngineInput, Link, Sample, SessionCmd
from monitord.engine.inputs import SessionAction
from monitord.engine.rules import RULE_IDS
from monitord.models import Kind

CHAIRS = ("c1", "c2")
HR_LEVELS = (35, 42, 48, 52, 58, 75, 115, 125, 145, 155, 300)
SPO2_LEVELS = (40, 83, 86, 89, 91, 93, 97)
# (sys, dia, map) around every BP threshold, plus impossible ones.
BP_VALUES = (
    (205, 100, None),
    (210, 125, None),
    (185, 100, None),
    (175, 95, None),
    (165, 95, None),
    (150, 95, 110),
    (145, 100, None),
    (130, 85, None),
    (120, 80, 93),
    (100, 60, 60),
    (92, 60, None),
    (85, 55, 62),
    (75, 50, None),
    (300, 100, None),
    (120, 115, None),
    (None, None, None),
)


@st.composite
def _extra(draw: st.DrawFn, t: float, chair: str) -> EngineInput:
    kind = draw(st.sampled_from(["bp", "bp", "bp", "session", "session", "ack", "link"]))
    if kind == "bp":
        s, d, m = draw(st.sampled_from(BP_VALUES))
        valid = draw(st.sampled_from([True, True, True, True, False]))
        return Sample(t, chair, "bp", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": m}, valid)
    if kind == "session":
        actions: list[SessionAction] = ["start", "dose_start", "dose_end", "end"]
        action = draw(st.sampled_from(actions))
        proto = draw(st.sampled_from([None, "esketamine", "iv-ketamine"]))
        return SessionCmd(t, chair, action, protocol=proto)
    if kind == "ack":
        return Ack(t, chair, rule=draw(st.sampled_from(RULE_IDS)), by="nurse")
    return Link(t, chair, draw(st.sampled_from(["bp", "hr", "spo2"])), draw(st.booleans()))


@st.composite
def streams(draw: st.DrawFn, max_blocks: int = 8) -> list[EngineInput]:
    out: list[EngineInput] = []
    t = 0.0
    for _ in range(draw(st.integers(1, max_blocks))):
        chair = draw(st.sampled_from(CHAIRS))
        signal = draw(st.sampled_from(["hr", "spo2"]))
        level = draw(st.sampled_from(HR_LEVELS if signal == "hr" else SPO2_LEVELS))
        n = draw(st.integers(1, 40))
        step = draw(st.sampled_from([1.0, 5.0, 9.0, 12.0]))
        for _ in range(n):
            t += step
            r = draw(st.integers(0, 19))
            if r == 0:
                out.append(draw(_extra(t, chair)))
                continue
            contact = False if r == 1 else draw(st.sampled_from([None, None, True]))
            valid = r != 2
            if signal == "hr":
                out.append(Sample(t, chair, "hr", Kind.HR, {"hr_bpm": level}, valid, contact))
            else:
                out.append(Sample(t, chair, "spo2", Kind.SPO2, {"spo2_pct": level}, valid, contact))
        # Between blocks, sometimes a long pause (timers fire) and a non-sample input.
        t += draw(st.sampled_from([0.0, 0.0, 30.0, 400.0, 3000.0]))
        if draw(st.booleans()):
            out.append(draw(_extra(t, draw(st.sampled_from(CHAIRS)))))
    return out
