"""Differential test: the engine's HR and SpO2 rules against an independent reference model
(oracle_vitals.py, written from clinical-rules.md only).

Streams of HR/SpO2 samples around every threshold, with gaps around 10 s, artifacts,
contact lost, acks, link changes, session commands and long pauses (escalation timers),
with the default rules and with `[alerts]` overrides (durations, thresholds, priority,
latching, escalate_s), driven like replay or with live clock ticks in between: the
engine's pending/raised/cleared/escalated/acknowledged events of those six rules (t,
rule, event, level, per chair) must equal the oracle's. Deterministic (derandomize) so CI
reproduces; the explicit examples are the cases where the text needs a careful reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitord.engine import (
    Ack,
    AlertEngine,
    EngineInput,
    Link,
    RuleSet,
    Sample,
    SessionCmd,
    validate_overrides,
)
from monitord.engine.inputs import SessionAction
from monitord.models import Kind

from .oracle_vitals import RULE_IDS, VALUE_KEY, VitalsOracle

CHAIRS = ("c1", "c2")
# Around each raise and clear threshold, plus out-of-range artifacts (15, 300; 40, 101).
HR_LEVELS = (15, 35, 40, 42, 45, 46, 48, 50, 52, 55, 56, 75, 105, 110, 115, 120, 121, 138, 140,
             145, 150, 151, 300)  # fmt: skip
SPO2_LEVELS = (40, 80, 85, 86, 88, 89, 90, 91, 92, 97, 101)
STEPS = (0.5, 1.0, 5.0, 9.0, 10.0, 10.5, 12.0)
DURATIONS = (5.0, 15.0, 35.0, 65.0, 130.0, 310.0, 420.0)

Row = tuple[float, str, str, int | None]


def hr(t: float, v: float, chair: str = "c1", contact: bool | None = None) -> Sample:
    return Sample(t, chair, "hr", Kind.HR, {"hr_bpm": v}, True, contact)


def spo2(t: float, v: float, chair: str = "c1", pulse: float | None = None) -> Sample:
    return Sample(t, chair, "spo2", Kind.SPO2, {"spo2_pct": v, "pulse_bpm": pulse}, True)


def off(t: float, v: float = 35) -> Sample:
    """An HR sample with contact lost: not valid for physiological rules."""
    return Sample(t, "c1", "hr", Kind.HR, {"hr_bpm": v}, True, False)


def ack(t: float, rule: str) -> Ack:
    return Ack(t, "c1", rule=rule, by="nurse")


def every(
    start: float, stop: float, step: float, make: Callable[[float, float], Sample], v: float
) -> list[EngineInput]:
    """Samples of one value from `start` to `stop` inclusive."""
    n = int((stop - start) / step) + 1
    return [make(start + i * step, v) for i in range(n)]


@st.composite
def _other(draw: st.DrawFn, t: float, chair: str) -> EngineInput:
    kind = draw(st.sampled_from(["ack", "ack", "ack", "link", "session", "bp"]))
    if kind == "ack":
        return Ack(t, chair, rule=draw(st.sampled_from(RULE_IDS)), by="nurse")
    if kind == "link":
        return Link(t, chair, draw(st.sampled_from(["hr", "spo2"])), draw(st.booleans()))
    if kind == "session":
        actions: list[SessionAction] = ["start", "dose_start", "dose_end", "end"]
        return SessionCmd(t, chair, draw(st.sampled_from(actions)), protocol="esketamine")
    return Sample(t, chair, "bp", Kind.BP, {"sys_mmHg": 120, "dia_mmHg": 80, "map_mmHg": None})


@st.composite
def vital_streams(draw: st.DrawFn) -> list[EngineInput]:
    """Blocks that hold one chair's HR and/or SpO2 at a level for a duration (long enough,
    sometimes, for hr.high's 300 s), clean or with artifacts and other inputs mixed in."""
    out: list[EngineInput] = []
    t = 0.0
    for _ in range(draw(st.integers(1, 10))):
        chair = draw(st.sampled_from(CHAIRS[:1] * 3 + CHAIRS))
        signals = draw(st.sampled_from([("hr",), ("spo2",), ("hr", "spo2")]))
        # Normal values often, so that alerts clear (and latched ones wait for their ack).
        hr_v = draw(st.sampled_from(HR_LEVELS + (75,) * 6))
        spo2_v = draw(st.sampled_from(SPO2_LEVELS + (97,) * 4))
        step = draw(st.sampled_from(STEPS))
        duration = draw(st.sampled_from(DURATIONS))
        noisy = draw(st.booleans())
        for i in range(min(int(duration / step) + 1, 150)):
            t += step
            r = draw(st.integers(0, 24)) if noisy else 99
            if r == 0:
                out.append(draw(_other(t, chair)))
                continue
            if r == 1:  # a jump to another level within the block
                hr_v = draw(st.sampled_from(HR_LEVELS))
                spo2_v = draw(st.sampled_from(SPO2_LEVELS))
            contact = False if r == 2 else (True if r == 4 else None)
            valid = r != 3
            signal = signals[i % len(signals)]
            if signal == "hr":
                out.append(Sample(t, chair, "hr", Kind.HR, {"hr_bpm": hr_v}, valid, contact))
            else:
                # A pulse value on the SpO2 event must not feed the HR rules.
                values = {"spo2_pct": spo2_v, "pulse_bpm": float(hr_v)}
                out.append(Sample(t, chair, "spo2", Kind.SPO2, values, valid, contact))
        if draw(st.booleans()):  # the nurse acknowledges what the block raised
            rules = [r for r in RULE_IDS if r.split(".")[0] in signals]
            out.append(Ack(t, chair, rule=draw(st.sampled_from(rules)), by="nurse"))
        t += draw(st.sampled_from([0.0, 0.0, 30.0, 120.0, 400.0]))
        if draw(st.booleans()):
            out.append(draw(_other(t, draw(st.sampled_from(CHAIRS)))))
    return out


@st.composite
def episodes(draw: st.DrawFn) -> list[EngineInput]:
    """One chair, one signal, segments at levels on both sides of each threshold, each
    long enough to raise or clear, often followed by an ack: raise -> ack -> clear and
    raise -> clear held -> ack sequences (latching overrides) come up often."""
    signal = draw(st.sampled_from(["hr", "spo2"]))
    levels = (35, 45, 48, 58, 75, 125, 145, 155) if signal == "hr" else (80, 86, 89, 91, 97)
    step = draw(st.sampled_from([1.0, 5.0, 9.0, 10.0]))
    out: list[EngineInput] = []
    t = 0.0
    for _ in range(draw(st.integers(1, 8))):
        v = draw(st.sampled_from(levels))
        for _ in range(int(draw(st.sampled_from([10.0, 20.0, 40.0, 70.0, 130.0, 320.0])) / step)):
            t += step
            r = draw(st.integers(0, 15))
            if signal == "hr":
                out.append(Sample(t, "c1", "hr", Kind.HR, {"hr_bpm": v}, r != 0, r != 1))
            else:
                out.append(Sample(t, "c1", "spo2", Kind.SPO2, {"spo2_pct": v}, r != 0, r != 1))
        if draw(st.booleans()):
            rule = draw(st.sampled_from([r for r in RULE_IDS if r.startswith(signal)]))
            out.append(Ack(t + draw(st.sampled_from([0.0, 1.0])), "c1", rule=rule, by="nurse"))
        t += draw(st.sampled_from([0.0, 0.0, 15.0, 200.0]))
    return out


Overrides = dict[str, dict[str, Any]]
THRESHOLDS = {
    "hr.high": (("hr_gt", 120.0), ("clear_hr_lt", 110.0)),
    "hr.very_high": (("hr_gt", 150.0), ("clear_hr_lt", 140.0)),
    "hr.low": (("hr_lt", 50.0), ("clear_hr_gt", 55.0)),
    "hr.very_low": (("hr_lt", 40.0), ("clear_hr_gt", 45.0)),
    "spo2.low": (("spo2_lt", 90.0), ("clear_spo2_ge", 92.0)),
    "spo2.very_low": (("spo2_lt", 85.0), ("clear_spo2_ge", 88.0)),
}


@st.composite
def overrides(draw: st.DrawFn) -> Overrides:
    """`[alerts]` overrides of the six rules: durations, thresholds (moved a few units,
    so an inhibitor's condition may no longer lie inside its victim's), latching,
    priority, escalate_s. Combinations the config check refuses are filtered out."""
    out: Overrides = {}
    for rule in RULE_IDS:
        if not draw(st.booleans()):
            continue
        ov: dict[str, Any] = {}
        if draw(st.booleans()):
            ov["for_s"] = draw(st.sampled_from([0.0, 5.0, 10.0, 30.0]))
        if draw(st.booleans()):
            ov["clear_for_s"] = draw(st.sampled_from([0.0, 10.0, 30.0]))
        if draw(st.integers(0, 3)) == 0:
            name, default = THRESHOLDS[rule][draw(st.integers(0, 1))]
            ov[name] = default + draw(st.sampled_from([-6.0, -3.0, 3.0, 6.0]))
        ov["latching"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            ov["priority"] = draw(st.sampled_from(["high", "medium", "low"]))
        if draw(st.integers(0, 3)) == 0 and ov.get("priority") != "low":
            # Whole seconds: with an interval like 90.3 the engine's deadlines (previous
            # + interval) and raise + n x interval differ in the last bit of the float.
            ov["escalate_s"] = draw(st.sampled_from([60.0, 250.0]))
        out[rule] = ov
    return out


def _ticks(inputs: list[EngineInput]) -> list[float | None]:
    """Live, the clock also ticks between inputs: a tick halfway to each later input."""
    prev = [inputs[0].t if inputs else 0.0] + [ev.t for ev in inputs[:-1]]
    return [(p + ev.t) / 2 if ev.t > p else None for p, ev in zip(prev, inputs, strict=True)]


def engine_events(
    inputs: list[EngineInput], alerts: Overrides | None = None, ticks: bool = False
) -> dict[str, list[Row]]:
    eng = AlertEngine(RuleSet.from_overrides(alerts or {}))
    out = []
    for ev, tick in zip(inputs, _ticks(inputs), strict=True):
        if ticks and tick is not None:
            out += eng.advance(tick)
        out += eng.advance(ev.t, strict=True)
        out += eng.feed(ev)
    if inputs:
        out += eng.advance(inputs[-1].t + 7200)
    rows: dict[str, list[Row]] = {}
    for e in out:
        if e.rule in RULE_IDS:
            rows.setdefault(e.chair, []).append((e.t, e.rule, e.event, e.level))
    return rows


def oracle_events(
    inputs: list[EngineInput], alerts: Overrides | None = None, ticks: bool = False
) -> dict[str, list[Row]]:
    orc = VitalsOracle(alerts)
    out = []
    for ev, tick in zip(inputs, _ticks(inputs), strict=True):
        if ticks and tick is not None:
            out += orc.advance(tick)
        out += orc.advance(ev.t, strict=True)
        if isinstance(ev, Sample) and ev.kind in (Kind.HR, Kind.SPO2) and not ev.stored:
            value = ev.values.get(VALUE_KEY[str(ev.kind)])
            out += orc.sample(ev.t, ev.chair, str(ev.kind), value, ev.valid, ev.contact)
        elif isinstance(ev, Ack) and ev.rule is not None:
            out += orc.ack(ev.t, ev.chair, ev.rule)
    if inputs:
        out += orc.advance(inputs[-1].t + 7200)
    rows: dict[str, list[Row]] = {}
    for t, chair, rule, event, level in out:
        rows.setdefault(chair, []).append((t, rule, event, level))
    return rows


SETTINGS = settings(
    derandomize=True,  # the same examples on every run: CI reproduces any failure
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LATCH_LOW = {"spo2.very_low": {"latching": True}}


@settings(SETTINGS, max_examples=300)
@given(overrides().filter(lambda ov: not validate_overrides(ov)), episodes())
# Latched: clear held, then the ack emits acknowledged + cleared at the same t.
@example(
    LATCH_LOW, every(0, 20, 5, spo2, 80) + every(25, 70, 5, spo2, 97) + [ack(71, "spo2.very_low")]
)
# Latched, acked first: cleared when the clear condition has held for 30 s.
@example(
    LATCH_LOW, [*every(0, 20, 5, spo2, 80), ack(21, "spo2.very_low"), *every(25, 70, 5, spo2, 97)]
)
# A reading that breaks the clear run cancels the held clear: the ack only acknowledges.
@example(
    LATCH_LOW,
    every(0, 20, 5, spo2, 80)
    + every(25, 70, 5, spo2, 97)
    + [spo2(75, 87), ack(76, "spo2.very_low")]
    + every(80, 130, 5, spo2, 97),
)
# So does a gap > 10 s (it restarts the clear run).
@example(
    LATCH_LOW,
    every(0, 20, 5, spo2, 80)
    + every(25, 70, 5, spo2, 97)
    + [spo2(85, 97), ack(86, "spo2.very_low")]
    + every(90, 130, 5, spo2, 97),
)
# Same priority: the inhibitor still goes first and inhibits on the reading that raises it.
@example({"hr.low": {"priority": "high", "for_s": 0.0}, "hr.very_low": {"for_s": 0.0}}, [hr(0, 35)])
def test_episodes_match_oracle(alerts: Overrides, inputs: list[EngineInput]) -> None:
    assert engine_events(inputs, alerts) == oracle_events(inputs, alerts)


@settings(SETTINGS, max_examples=200)
@given(overrides().filter(lambda ov: not validate_overrides(ov)), vital_streams(), st.booleans())
def test_engine_matches_oracle_with_overrides(
    alerts: Overrides, inputs: list[EngineInput], ticks: bool
) -> None:
    assert engine_events(inputs, alerts, ticks) == oracle_events(inputs, alerts, ticks)


@settings(SETTINGS, max_examples=300)
@given(vital_streams())
@example(every(0, 300, 5, hr, 125))  # hr.high raises at 300, escalates at 600
@example([*every(0, 60, 5, hr, 155), ack(180, "hr.very_high")])  # ack at a deadline: no escalation
@example(every(0, 20, 1, spo2, 80) + every(21, 60, 1, spo2, 89) + every(61, 100, 1, spo2, 95))
@example(every(0, 100, 10, hr, 35) + every(110.5, 200, 10.5, hr, 35))  # 10 s: no gap; 10.5: gap
# The gap is between valid samples: an invalid or contact-lost sample in between does not
# bridge 12 s (raise at 42, not 30).
@example(
    [hr(0, 35), Sample(6, "c1", "hr", Kind.HR, {"hr_bpm": 35}, False), *every(12, 48, 6, hr, 35)]
)
@example([hr(0, 35), off(6), *every(12, 48, 6, hr, 35)])
@example([hr(0, 35), hr(6, 10), *every(12, 48, 6, hr, 35)])  # out of range (< 20)
# hr.high's run restarts when hr.very_high clears at 125: raise at 425.
@example(every(0, 60, 5, hr, 155) + every(65, 500, 5, hr, 125))
# spo2.low's deadline at 315 falls while spo2.very_low is active: skipped, then level 1 at 615.
@example(every(0, 240, 5, spo2, 89) + every(245, 400, 5, spo2, 80) + every(405, 460, 5, spo2, 89))
# hr.very_low raises at hr.low's deadline (360): inputs first, so the deadline is skipped ...
@example(every(0, 325, 5, hr, 45) + every(330, 400, 5, hr, 35))
# ... and clears at it (360): the escalation fires.
@example(every(0, 65, 5, hr, 45) + every(70, 325, 5, hr, 35) + every(330, 380, 5, hr, 47))
# Samples at one t: each is a sample (the gap is 0), in input order.
@example([hr(0, 35), hr(0, 35), hr(10, 35), hr(10, 60), hr(10, 35), *every(20, 40, 10, hr, 35)])
# A pulse on the SpO2 event does not feed the HR rules.
@example([spo2(float(t), 97, pulse=30) for t in range(0, 100, 5)])
def test_engine_matches_oracle(inputs: list[EngineInput]) -> None:
    assert engine_events(inputs) == oracle_events(inputs)
