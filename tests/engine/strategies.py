"""Hypothesis strategies: random but clinically shaped streams of engine inputs.

Uniformly random values would almost never hold a condition for 60-300 s, so the stream is
built from blocks: each block keeps one chair's HR or SpO2 near a level (around the rule
thresholds) for a while, with BP readings, artifacts, session commands, acks and link
changes sprinkled in.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from monitord.engine import Ack, AlertEngine, EngineInput, Link, Sample, SessionCmd
from monitord.engine.inputs import SessionAction
from monitord.engine.rules import RULE_IDS
from monitord.models import AlertEvent, Kind

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


@st.composite
def clinical_streams(draw: st.DrawFn) -> list[EngineInput]:
    """`streams()` after a session opened on c1 at t = 0 (so that the session's timers,
    overdue BP, the 40-min check and discharge readiness, run) and maybe a device down."""
    pro: list[EngineInput] = []
    proto = draw(st.sampled_from([None, "esketamine", "iv-ketamine"]), label="protocol")
    if proto is not None:
        pro.append(SessionCmd(0.0, "c1", "start", protocol=proto))
        for s, d in draw(st.sampled_from([[], [(120, 80), (124, 78)]]), label="baseline"):
            pro.append(Sample(0.0, "c1", "bp", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d}))
        pro.append(SessionCmd(0.0, "c1", "dose_start"))
        if proto == "iv-ketamine" and draw(st.booleans(), label="dose_end"):
            pro.append(SessionCmd(0.0, "c1", "dose_end"))
    if draw(st.booleans(), label="device down"):
        pro.append(Link(0.0, draw(st.sampled_from(["c1", "c2"])), "hr", False))
    out = pro + draw(streams())
    return draw(fractional(out)) if draw(st.booleans(), label="fractional") else out


# Sub-second and sub-millisecond parts (clinical-rules.md: alert_id unique "also when the
# same rule raises, clears and raises again within one millisecond"; the 10-s gap and the
# `for` durations met or missed by a fraction).
OFFSETS = (0.0, 0.0, 0.0001, 0.0004, 0.0005, 0.0006, 0.000001, 0.5, 0.9999)


@st.composite
def fractional(draw: st.DrawFn, inputs: list[EngineInput]) -> list[EngineInput]:
    """`inputs` moved later by fractions of a second, in the same order; inputs that
    shared a `t` may be spread over a millisecond."""
    out: list[EngineInput] = []
    last = float("-inf")
    for ev in inputs:
        step = draw(st.sampled_from((0.0, 0.0001, 0.0003)))
        t = round(max(last + step, ev.t + draw(st.sampled_from(OFFSETS))), 6)
        out.append(dataclasses.replace(ev, t=t))
        last = t
    return out


@st.composite
def acked_streams(draw: st.DrawFn) -> list[EngineInput]:
    """`clinical_streams()` with acks by rule added after some of the alert events it
    gives (random acks rarely find an active alert): at the same `t` or a little later,
    so some come within a millisecond of a clear and a new raise, some after a latched
    alert's clear condition held."""
    inputs = draw(clinical_streams())
    eng = AlertEngine()
    events: list[AlertEvent] = []
    for ev in inputs:
        events += eng.advance(ev.t, strict=True)
        events += eng.feed(ev)
    targets = [e for e in events if e.event in ("raised", "escalated", "cleared")]
    if not targets:
        return inputs
    picks = draw(st.lists(st.sampled_from(targets), max_size=6), label="acked events")
    out = list(inputs)
    for e in picks:
        t = round(e.t + draw(st.sampled_from((0.0, 0.0001, 0.0004, 1.0, 30.0, 200.0))), 6)
        at = next((k for k, ev in enumerate(out) if ev.t > t), len(out))
        out.insert(at, Ack(t, e.chair, rule=e.rule, by="nurse"))
    return out
