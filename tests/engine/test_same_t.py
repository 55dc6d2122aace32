"""Property (issue 14): shuffling inputs that share one `t` never changes which timers fire
or when. All inputs at one `t` go first, in order, then the timers due at `t`
(clinical-rules.md "Precise semantics"), so no timer may fire between two of them.

Inputs share a `t` in groups on a 5-s grid, so timer deadlines (device lost 30 s, sensor
off 15 s, escalations 120/300 s, BP overdue 780 s) keep landing on a group's `t`. Within a
group the inputs commute in the engine's state (at most one per signal, one link change
per device, and an ack never for a rule of a signal measured in the same group: an ack
before or after the reading that raises the alert is a different story, legitimately), so
only the timer order could tell two orders apart. Session commands come alone at their
`t`: they create the overdue and check-missed timers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitord.engine import Ack, AlertEngine, EngineInput, Link, Sample, SessionCmd
from monitord.engine.inputs import SessionAction
from monitord.engine.replay import play
from monitord.models import AlertEvent, Kind

CHAIR = "c1"
TIMER_RAISED = {"tech.bp_overdue", "session.check_missed", "tech.device_lost", "tech.sensor_off"}
BP = ((185, 100), (205, 125), (120, 80), (75, 50), (85, 60), None)  # None: cuff error
ACKS = {
    "bp": ("bp.severe", "bp.crisis", "bp.low", "bp.very_low", "tech.bp_invalid"),
    "hr": ("hr.low", "hr.very_low", "hr.high", "hr.very_high"),
    "spo2": ("spo2.low", "spo2.very_low"),
    "any": ("tech.device_lost", "tech.sensor_off", "tech.bp_overdue", "session.check_missed"),
}


@st.composite
def _group(draw: st.DrawFn, t: float) -> list[EngineInput]:
    out: list[EngineInput] = []
    measured: set[str] = set()
    if draw(st.booleans()):
        hr = draw(st.sampled_from([35, 45, 72, 125, 155]))
        contact = draw(st.sampled_from([None, None, None, False, True]))
        out.append(Sample(t, CHAIR, "hr", Kind.HR, {"hr_bpm": hr}, True, contact))
        measured.add("hr")
    if draw(st.booleans()):
        spo2 = draw(st.sampled_from([80, 87, 89, 97]))
        contact = draw(st.sampled_from([None, None, None, False]))
        out.append(Sample(t, CHAIR, "spo2", Kind.SPO2, {"spo2_pct": spo2}, True, contact))
        measured.add("spo2")
    if draw(st.integers(0, 3)) == 0:
        bp = draw(st.sampled_from(BP))
        values = {"sys_mmHg": bp[0], "dia_mmHg": bp[1]} if bp else {}
        out.append(Sample(t, CHAIR, "bp", Kind.BP, values, bp is not None))
        measured.add("bp")
    for dev in ("bp", "hr", "spo2"):
        if draw(st.integers(0, 5)) == 0:
            out.append(Link(t, CHAIR, dev, draw(st.booleans())))
    if draw(st.integers(0, 2)) == 0:
        rules = [r for sig, rs in ACKS.items() if sig not in measured for r in rs]
        out.append(Ack(t, CHAIR, rule=draw(st.sampled_from(rules)), by="nurse"))
    return out


@st.composite
def grouped_streams(draw: st.DrawFn) -> list[list[EngineInput]]:
    groups: list[list[EngineInput]] = []
    t = 0.0
    for _ in range(draw(st.integers(5, 60))):
        t += draw(st.sampled_from([5.0, 5.0, 10.0, 15.0, 30.0, 120.0]))
        if draw(st.integers(0, 9)) == 0:
            actions: list[SessionAction] = ["start", "dose_start", "dose_end", "end"]
            action = draw(st.sampled_from(actions))
            groups.append([SessionCmd(t, CHAIR, action, protocol="esketamine")])
        else:
            groups.append(draw(_group(t)))
    return groups


def timer_events(groups: Sequence[Sequence[EngineInput]]) -> list[tuple[Any, ...]]:
    """The timer-driven events of a replay: escalations and the timer-raised alerts."""
    inputs: list[EngineInput | float] = [inp for g in groups for inp in g]
    last = max((g[0].t for g in groups if g), default=0.0)
    inputs.append(last + 4000.0)  # `end`: every timer due by then fires
    out: list[AlertEvent] = list(play(AlertEngine(), inputs))
    return sorted(
        (e.t, e.chair, e.rule, e.event, e.level)
        for e in out
        if e.event == "escalated" or (e.event == "raised" and e.rule in TIMER_RAISED)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_streams(), st.randoms(use_true_random=False))
def test_shuffling_same_t_inputs_keeps_timers(groups: list[list[EngineInput]], rnd: Any) -> None:
    shuffled = [rnd.sample(g, len(g)) for g in groups]
    assert timer_events(shuffled) == timer_events(groups)
