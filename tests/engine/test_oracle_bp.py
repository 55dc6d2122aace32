"""Differential test: the engine's blood-pressure rules against tests/engine/oracle_bp.py, an
independent model written from clinical-rules.md. Streams of one chair's session commands,
BP readings (valid and invalid, around every threshold), acks, time gaps and timer advances
go to both; their pending/raised/cleared/escalated/acknowledged events of the modelled rules
must be equal (t, rule, event, level), in order."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitord.engine import Ack, AlertEngine, EngineInput, Sample, SessionCmd
from monitord.engine.inputs import SessionAction
from monitord.models import Kind

from .oracle_bp import MODELLED, BPOracle, Ev

CHAIR = "c1"
NAN = float("nan")
SYS = (45, 50, 120, 130, 139, 140, 141, 145, 150, 155, 159, 160, 165, 169, 170, 175, 179)
SYS2 = (180, 185, 199, 200, 210, 260, 261)
DIA = (19, 20, 70, 80, 85, 89, 90, 91, 95, 99, 100, 105, 109, 110, 115, 119, 120, 125, 161)
ACTIONS: tuple[SessionAction, ...] = ("start", "dose_start", "dose_end", "end")
GAPS = (0.0, 1.0, 10.0, 60.0, 120.0, 300.0, 600.0, 780.0, 1000.0, 3000.0)


@dataclass(frozen=True)
class Advance:
    """Fire the timers due at or before `t` (the live loop's tick between inputs)."""

    t: float


Step = EngineInput | Advance


def bp(
    t: float, s: float | None, d: float | None, m: float | None = None, ok: bool = True
) -> Sample:
    return Sample(t, CHAIR, "bp", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": m}, ok)


def cmd(t: float, action: SessionAction) -> SessionCmd:
    return SessionCmd(t, CHAIR, action, protocol="esketamine")


def ack(t: float, rule: str) -> Ack:
    return Ack(t, CHAIR, rule=rule, by="nurse")


# (sys range, dia range) bands: normal, baseline-high / rise / not-declining, severe, crisis.
BANDS = (
    ((100, 139), (60, 89)),
    ((140, 179), (80, 109)),
    ((170, 199), (90, 119)),
    ((190, 230), (95, 125)),
)
NEXT: dict[str, SessionAction] = {
    "idle": "start",
    "baseline": "dose_start",
    "dosing": "dose_end",
    "observation": "end",
}
AFTER = {"idle": "baseline", "baseline": "dosing", "dosing": "observation", "observation": "idle"}


@st.composite
def _reading(draw: st.DrawFn, t: float, band: int) -> Sample:
    s: float | None
    d: float | None
    if band < 0:  # exact thresholds and impossible values
        s = draw(st.sampled_from((*SYS, *SYS2, None, NAN, 199.5)) | st.integers(40, 270))
        d = draw(st.sampled_from((*DIA, None, NAN, 109.5)) | st.integers(15, 170))
    else:
        (s0, s1), (d0, d1) = BANDS[band]
        s, d = draw(st.integers(s0, s1)), draw(st.integers(d0, d1))
    m = None
    if s is not None and d is not None and draw(st.booleans()):
        m = draw(st.sampled_from([(s + 2 * d) / 3, s, d, s + 1, d - 1]))
    ok = draw(st.integers(0, 14)) != 0
    return bp(t, s, d, m, ok)


@st.composite
def steps(draw: st.DrawFn) -> list[Step]:
    """Mostly in-order sessions (some commands out of order, refused), readings that stay
    in a band for a while so that runs confirm and clear, acks mostly of active rules."""
    out: list[Step] = []
    t = 0.0
    phase = "idle"
    band = 0
    last_advance = False
    for _ in range(draw(st.integers(1, 40))):
        gap = draw(st.sampled_from(GAPS))
        # An advance fires timers due at its t, so the next input must come strictly later.
        t += max(gap, 1.0) if last_advance else gap
        last_advance = False
        kind = draw(st.sampled_from(["bp"] * 7 + ["session"] * 2 + ["ack"] * 2 + ["advance"]))
        if kind == "bp":
            if draw(st.integers(0, 2)) == 0:
                band = draw(st.sampled_from([-1, 0, 0, 0, 1, 1, 1, 2, 2, 3]))
            out.append(draw(_reading(t, band)))
        elif kind == "session":
            if draw(st.integers(0, 4)) == 0:
                out.append(cmd(t, draw(st.sampled_from(ACTIONS))))  # maybe out of order
            else:
                out.append(cmd(t, NEXT[phase]))
                phase = AFTER[phase]
        elif kind == "ack":
            out.append(ack(t, draw(st.sampled_from(MODELLED + MODELLED[:3] + MODELLED[:1]))))
        else:
            out.append(Advance(t))
            last_advance = True
    return out


def engine_events(stream: list[Step]) -> list[Ev]:
    eng = AlertEngine()
    got = []
    for ev in stream:
        if isinstance(ev, Advance):
            got += eng.advance(ev.t)
            continue
        got += eng.advance(ev.t, strict=True)
        got += eng.feed(ev)
    if stream:
        got += eng.advance(stream[-1].t + 7200)
    return [(e.t, e.rule, e.event, e.level) for e in got if e.rule in MODELLED]


def oracle_events(stream: list[Step]) -> list[Ev]:
    o = BPOracle()
    for ev in stream:
        o.advance(ev.t, strict=not isinstance(ev, Advance))
        if isinstance(ev, Sample):
            o.bp(ev.t, ev.values, ev.valid)
        elif isinstance(ev, SessionCmd):
            o.session(ev)
        elif isinstance(ev, Ack):
            o.ack(ev)
    if stream:
        o.advance(stream[-1].t + 7200, strict=False)
    return o.out


S = (
    cmd(0, "start"),
    bp(60, 120, 80),
    bp(120, 124, 82),
    cmd(300, "dose_start"),
)


@settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(steps())
# Latched crisis: clear condition held, escalates until the ack clears it.
@example([bp(10, 205, 100), bp(20, 170, 100), bp(30, 170, 100), ack(300, "bp.crisis")])
# Ack before the clear condition: acknowledged now, cleared by the second clear reading.
@example([bp(10, 205, 100), ack(20, "bp.crisis"), bp(30, 170, 100), bp(40, 170, 100)])
# A reading that breaks the held clear condition: the ack then only acknowledges.
@example(
    [bp(10, 205, 100), bp(20, 170, 90), bp(30, 170, 90), bp(40, 185, 90), ack(50, "bp.crisis")]
)
# Crisis inhibits severe and rise on the same reading; severe active but silent under crisis.
@example([*S, bp(400, 185, 100), bp(500, 185, 100), bp(600, 210, 125), bp(700, 150, 90)])
@example([*S, bp(400, 185, 100), bp(500, 185, 100), bp(600, 210, 90), ack(700, "bp.crisis")])
@example(
    [
        *S,
        bp(400, 185, 100),
        bp(500, 185, 100),
        bp(600, 210, 90),
        bp(610, 150, 80),
        bp(620, 150, 80),
        ack(1500, "bp.crisis"),
        bp(1600, 150, 80),
        bp(1610, 150, 80),
    ]
)
# Severe pending, then crisis, then crisis clears: severe's run restarted.
@example([bp(10, 185, 100), bp(20, 205, 100), ack(30, "bp.crisis"), bp(40, 150, 80)])
@example([bp(10, 185, 100), ack(15, "bp.crisis"), bp(20, 205, 100), ack(25, "bp.crisis")])
# Rise with a baseline, its clear hysteresis, and no baseline.
@example([*S, bp(400, 165, 95), bp(500, 165, 95), bp(600, 150, 95), bp(700, 145, 90)])
@example([cmd(0, "start"), bp(60, 120, 80), cmd(300, "dose_start"), bp(400, 165, 95)])
# Baseline high: mean of the last 3; cleared by dose_start and by a lower mean.
@example([cmd(0, "start"), bp(10, 150, 95), bp(20, 145, 92), bp(30, 120, 80), bp(40, 120, 70)])
@example([cmd(0, "start"), bp(10, 150, 95), bp(20, 145, 92), cmd(30, "dose_start")])
# Overdue: raised at the deadline, not again; cleared by a valid BP; same-t valid BP wins.
@example([*S, bp(900, 120, 80), bp(1900, 120, 80), bp(3000, 120, 80)])
@example([*S, bp(1080, 120, 80)])
@example([*S, bp(1080, 120, 115), Advance(1080), bp(1200, 120, 80)])
# not_declining after 120 min of observation.
@example([*S, cmd(400, "dose_end"), bp(7500, 165, 90), bp(7600, 165, 90), bp(7700, 130, 80)])
# Session end clears session alerts and restarts runs (also a latched crisis' held clear).
@example([*S, bp(400, 165, 95), bp(500, 165, 95), cmd(600, "end"), bp(700, 165, 95)])
@example([bp(10, 185, 100), cmd(20, "start"), bp(30, 185, 100), bp(40, 185, 100)])
@example(
    [bp(10, 205, 100), bp(20, 150, 90), bp(30, 150, 90), cmd(40, "start"), ack(50, "bp.crisis")]
)
# Severe's escalation deadline at 320 falls under crisis and is skipped; the next one, at 620
# after crisis cleared, is its first escalation (level 1).
@example(
    [
        bp(10, 185, 100),
        bp(20, 185, 100),
        bp(100, 205, 100),
        bp(200, 150, 80),
        bp(210, 150, 80),
        ack(400, "bp.crisis"),
    ]
)
# Runs of an inhibited rule restart when the inhibition ends, on the reading that ends it.
@example(
    [
        bp(10, 185, 100),
        bp(20, 205, 100),
        ack(30, "bp.crisis"),
        bp(40, 150, 80),
        bp(50, 150, 80),
        bp(60, 185, 100),
    ]
)
@example(
    [
        bp(10, 185, 100),
        bp(20, 185, 100),
        bp(30, 150, 80),
        bp(40, 205, 100),
        ack(50, "bp.crisis"),
        bp(60, 150, 80),
        bp(70, 150, 80),
        bp(80, 150, 80),
    ]
)
# session_end is an input like any other: its clears come in priority, then table, order.
@example([*S, cmd(400, "dose_end"), bp(7500, 189, 99), bp(7510, 171, 109), cmd(7600, "end")])
# Half-mmHg values and NaN fields near the limits.
@example([bp(10, 199.6, 100), bp(20, 180.0, 109.5), bp(30, 179.9, 109.9), bp(40, NAN, 80)])
# A deadline at the t of the reading that ends (or starts) an inhibition: the input first.
@example(
    [
        bp(10, 185, 100),
        bp(20, 185, 100),
        bp(310, 205, 100),
        ack(312, "bp.crisis"),
        bp(315, 150, 80),
        bp(320, 150, 80),
    ]
)
@example([bp(10, 185, 100), bp(20, 185, 100), bp(320, 205, 100)])
# Severe escalation and ack at an escalation deadline.
@example([bp(10, 185, 100), bp(20, 185, 100), ack(620, "bp.severe")])
def test_engine_matches_bp_oracle(stream: list[Step]) -> None:
    assert engine_events(stream) == oracle_events(stream)
