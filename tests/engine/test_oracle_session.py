"""Differential test: the engine against tests/engine/oracle_session.py, an independent model
(from clinical-rules.md) of bp.low, bp.very_low, session.check_missed, session.no_baseline,
session.discharge_ready, tech.device_lost, tech.sensor_off and the BP rules under `[alerts]`
threshold, confirm and clear overrides.

Streams of one chair: in-order sessions (some commands out of order, refused) of one
protocol, BP readings that stay in a band (low, normal, high) for a while, HR and SpO2
samples (some with contact lost), link changes of two devices, acks, time gaps long enough
for observation time and timer advances. Events of the modelled rules must be equal (t,
rule, event, level, priority, device or signal); BP rules under overrides (t, rule, event,
level). Events of one `t` are compared rule by rule (their order across rules is
oracle_bp's subject).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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

from .oracle_bp import MODELLED as BP_MODELLED
from .oracle_session import BP_DEFAULTS, MODELLED, OTHER_DEFAULTS, SessionOracle

CHAIR = "c1"
Row = tuple[float, str, str, str, int | None, str | None, str | None]  # t, chair, rule, ...
Overrides = dict[str, dict[str, Any]]
ACTIONS: tuple[SessionAction, ...] = ("start", "dose_start", "dose_end", "end")
GAPS = (0.0, 1.0, 5.0, 10.0, 16.0, 30.0, 60.0, 300.0, 600.0, 900.0, 2100.0, 3000.0)
NEXT: dict[str, SessionAction] = {
    "idle": "start", "baseline": "dose_start", "dosing": "dose_end", "observation": "end"
}  # fmt: skip
AFTER = {"idle": "baseline", "baseline": "dosing", "dosing": "observation", "observation": "idle"}
# (sys, dia) bands: very low, low, borderline, normal, discharge-borderline, high, crisis.
BANDS = ((60, 85, 35, 55), (78, 96, 45, 65), (88, 100, 50, 70), (100, 139, 60, 89),
         (135, 165, 80, 105), (170, 190, 95, 112), (195, 230, 100, 125))  # fmt: skip
RULES = (*BP_MODELLED, *MODELLED)
KINDS = ["bp"] * 6 + ["session"] * 3 + ["vital"] * 4 + ["ack", "link"] * 2 + ["advance", "block"]


@dataclass(frozen=True)
class Advance:
    """Fire the timers due at or before `t` (the live loop's tick between inputs)."""

    t: float


Step = EngineInput | Advance


def bp(t: float, s: float, d: float, m: float | None = None, ok: bool = True) -> Sample:
    return Sample(t, CHAIR, "cuff", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": m}, ok)


def hr(t: float, v: float, contact: bool | None = None) -> Sample:
    return Sample(t, CHAIR, "mon", Kind.HR, {"hr_bpm": v}, True, contact)


def spo2(t: float, v: float, contact: bool | None = None) -> Sample:
    return Sample(t, CHAIR, "mon", Kind.SPO2, {"spo2_pct": v}, True, contact)


def cmd(t: float, action: SessionAction, protocol: str | None = "esketamine") -> SessionCmd:
    return SessionCmd(t, CHAIR, action, protocol=protocol)


def link(t: float, device: str, up: bool) -> Link:
    return Link(t, CHAIR, device, up)


def ack(t: float, rule: str) -> Ack:
    return Ack(t, CHAIR, rule=rule, by="nurse")


@st.composite
def overrides(draw: st.DrawFn) -> Overrides:
    """BP thresholds moved a few mmHg, confirm and clear counts of 1..3; combinations the
    config check refuses are filtered out by the caller."""
    out: Overrides = {}
    for rule, defaults in BP_DEFAULTS.items():
        if draw(st.integers(0, 2)) != 0:
            continue
        ov: dict[str, Any] = {}
        for key, value in defaults.items():
            if draw(st.integers(0, 2)) != 0:
                continue
            if key in ("confirm", "clear"):
                ov[key] = draw(st.integers(1, 3))
            elif key == "after_dose_s":
                ov[key] = draw(st.sampled_from([3600.0, 5400.0]))
            else:
                ov[key] = value + draw(st.sampled_from([-10.0, -5.0, 5.0, 10.0]))
        out[rule] = ov
    return out


@st.composite
def other_overrides(draw: st.DrawFn) -> Overrides:
    """The timing, priority and escalation parameters of the other modelled rules, and
    discharge readiness' limits, on top of BP threshold overrides."""
    out = draw(overrides())
    for rule, defaults in OTHER_DEFAULTS.items():
        if draw(st.booleans()):
            continue
        ov: dict[str, Any] = {}
        for key, value in defaults.items():
            if draw(st.integers(0, 2)) == 0:
                ov[key] = value * draw(st.sampled_from([0.5, 0.9, 1.2]))
        out[rule] = ov
    for rule in ("bp.low", "bp.very_low", "session.check_missed", "tech.device_lost",
                 "tech.sensor_off", "session.no_baseline"):  # fmt: skip
        ov = out.setdefault(rule, {})
        if draw(st.integers(0, 3)) == 0:
            ov["priority"] = draw(st.sampled_from(["high", "medium", "low"]))
        if draw(st.integers(0, 3)) == 0:
            ov["escalate_s"] = draw(st.sampled_from([0.0, 60.0, 250.0]))
    if draw(st.integers(0, 3)) == 0:
        out["tech.device_lost"]["priority_dosing"] = draw(st.sampled_from(["medium", "low"]))
    return out


@st.composite
def _reading(draw: st.DrawFn, t: float, band: int) -> Sample:
    s0, s1, d0, d1 = BANDS[band]
    s, d = draw(st.integers(s0, s1)), draw(st.integers(d0, d1))
    if draw(st.integers(0, 3)) == 0:  # exact thresholds
        s = draw(st.sampled_from([75, 79, 80, 85, 89, 90, 94, 95, 140, 154, 155, 160]))
    if s - d < 10:
        d = s - 10 - draw(st.integers(0, 10))
    m: float | None = None
    if draw(st.booleans()):
        m = draw(st.sampled_from([(s + 2 * d) / 3, d, 64.0, 65.0, 69.0, 70.0]))
    r = bp(t, s, d, m, draw(st.integers(0, 14)) != 0)
    return replace(r, stored=True) if draw(st.integers(0, 9)) == 0 else r


@st.composite
def steps(draw: st.DrawFn) -> list[Step]:
    protocol = draw(st.sampled_from(["esketamine", "esketamine", "iv-ketamine", None]))
    out: list[Step] = []
    t, band, last_advance = 0.0, 3, False
    phases = {"c1": "idle", "c2": "idle"}
    hr_v, spo2_v = 75.0, 97.0
    for _ in range(draw(st.integers(1, 45))):
        gap = draw(st.sampled_from(GAPS))
        t += max(gap, 1.0) if last_advance else gap
        last_advance = False
        chair = draw(st.sampled_from(["c1", "c1", "c1", "c2"]))
        phase = phases[chair]
        kind = draw(st.sampled_from(KINDS))
        if kind == "bp":
            if draw(st.integers(0, 2)) == 0:
                band = draw(st.integers(0, len(BANDS) - 1))
            out.append(draw(_reading(t, band)))
        elif kind == "session":
            if draw(st.integers(0, 5)) == 0:
                out.append(cmd(t, draw(st.sampled_from(ACTIONS)), protocol))
            else:
                out.append(cmd(t, NEXT[phase], protocol))
                phases[chair] = AFTER[phase]
        elif kind == "vital":
            if draw(st.integers(0, 3)) == 0:
                hr_v = draw(st.sampled_from([35.0, 75.0, 75.0, 130.0]))
                spo2_v = draw(st.sampled_from([86.0, 93.0, 94.0, 97.0, 97.0]))
            contact = draw(st.sampled_from([None, None, None, True, False]))
            sample = hr(t, hr_v, contact) if draw(st.booleans()) else spo2(t, spo2_v, contact)
            if draw(st.integers(0, 5)) == 0:  # an artifact: the device's verdict or out of range
                key = "hr_bpm" if sample.kind == Kind.HR else "spo2_pct"
                v = draw(st.sampled_from([sample.values[key], 10.0, 300.0, 40.0]))
                sample = replace(sample, values={key: v}, valid=draw(st.booleans()))
            # A device's memory record: fed to no rule, no contact change.
            out.append(replace(sample, stored=draw(st.integers(0, 9)) == 0))
        elif kind == "block":  # a signal held long enough for HR/SpO2 rules to raise or clear
            sig = draw(st.sampled_from(["hr", "spo2"]))
            level = draw(
                st.sampled_from([35.0, 75.0, 130.0] if sig == "hr" else [80.0, 88.0, 97.0])
            )
            for _ in range(draw(st.sampled_from([4, 14, 40]))):
                make = hr if sig == "hr" else spo2
                contact = draw(st.sampled_from([None] * 9 + [False]))
                out.append(replace(make(t, level, contact), chair=chair))
                t += 5.0
            t -= 5.0
        elif kind == "ack":
            out.append(ack(t, draw(st.sampled_from(RULES))))
        elif kind == "link":
            out.append(link(t, draw(st.sampled_from(["cuff", "mon"])), draw(st.booleans())))
        else:
            out.append(Advance(t))
            last_advance = True
        if chair != CHAIR and not isinstance(out[-1], Advance):
            out[-1] = replace(out[-1], chair=chair)
    return out


def _key(rule: str, value: Any) -> str | None:
    if rule == "tech.device_lost":
        return str(value["device"])
    if rule == "tech.sensor_off":
        return str(value["signal"])
    return None


def _by_t(rows: list[Row]) -> list[Row]:
    # Stable: the order within a rule stays as emitted.
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def engine_events(stream: list[Step], alerts: Overrides | None = None) -> list[Row]:
    eng = AlertEngine(RuleSet.from_overrides(alerts or {}))
    got = []
    for ev in stream:
        if isinstance(ev, Advance):
            got += eng.advance(ev.t)
            continue
        got += eng.advance(ev.t, strict=True)
        got += eng.feed(ev)
    if stream:
        got += eng.advance(stream[-1].t + 7200)
    rows: list[Row] = []
    for e in got:
        if e.rule in MODELLED:
            row = (e.t, e.chair, e.rule, e.event, e.level, e.priority, _key(e.rule, e.value))
            rows.append(row)
        elif e.rule in BP_MODELLED:
            rows.append((e.t, e.chair, e.rule, e.event, e.level, None, None))
    return _by_t(rows)


def oracle_events(stream: list[Step], alerts: Overrides | None = None) -> list[Row]:
    chairs = {c: SessionOracle(alerts) for c in ("c1", "c2")}  # one model a chair
    for ev in stream:
        if isinstance(ev, Advance):
            for o in chairs.values():
                o.advance(ev.t, strict=False)
            continue
        for o in chairs.values():
            o.advance(ev.t, strict=True)
        chairs[ev.chair].feed(ev)
    rows: list[Row] = []
    for c, o in chairs.items():
        if stream:
            o.advance(stream[-1].t + 7200, strict=False)
        rows += [(t, c, *rest) for t, *rest in o.out]  # type: ignore[misc]
        rows += [(t, c, r, e, lvl, None, None) for t, r, e, lvl in o.bp_oracle.out]
    return _by_t(rows)


SETTINGS = settings(
    derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), max_examples=150
)
S = (cmd(0, "start"), bp(60, 120, 80), bp(120, 124, 82), cmd(300, "dose_start"))


@SETTINGS
@given(steps())
# bp.low on MAP alone, cleared by sys >= 95 with MAP >= 70; very_low inhibits low.
@example([bp(10, 100, 60, 64), bp(20, 100, 60, 64), bp(30, 95, 60, 70), bp(40, 96, 60, 70)])
@example([bp(10, 85, 60), bp(20, 75, 50), bp(30, 85, 60), bp(40, 92, 60), bp(50, 92, 60)])
# check_missed: a BP at dose_start + 2100 or + 3000 counts; at + 2099 it does not.
@example([*S, bp(2400, 120, 80), cmd(3400, "end")])
@example([*S, bp(3300, 120, 80), bp(3400, 120, 80)])
@example([*S, bp(2399, 120, 80), bp(3301, 120, 80), ack(3900, "session.check_missed")])
# device lost: high while dosing, medium otherwise; link back before 30 s cancels.
@example([*S, link(400, "cuff", False), link(410, "mon", False), link(435, "mon", True)])
@example([link(0, "cuff", False), cmd(10, "start"), link(40, "cuff", True)])
# sensor off: 15 s of contact lost; a sample with contact absent brings it back.
@example([hr(0, 70, False), hr(10, 70, False), spo2(14, 97, False), hr(20, 70), spo2(40, 97)])
# Discharge: esketamine at dose_start + 7200, cleared by a low SpO2, back when it leaves.
@example([*S, cmd(400, "dose_end"), bp(7000, 120, 80), bp(7400, 118, 78), spo2(7600, 92)])
@example([*S, cmd(400, "dose_end"), bp(7000, 120, 80), bp(7100, 118, 78), cmd(7600, "end")])
# Discharge at its limits: 140/90 twice is low enough (sys <= 140, dia <= 90).
@example([*S, cmd(400, "dose_end"), bp(7000, 140, 90), bp(7100, 140, 90)])
def test_engine_matches_session_oracle(stream: list[Step]) -> None:
    assert engine_events(stream) == oracle_events(stream)


@settings(SETTINGS, max_examples=80)
@given(overrides().filter(lambda ov: not validate_overrides(ov)), steps())
def test_engine_matches_session_oracle_with_bp_overrides(
    alerts: Overrides, stream: list[Step]
) -> None:
    assert engine_events(stream, alerts) == oracle_events(stream, alerts)


@settings(SETTINGS, max_examples=80)
@given(other_overrides().filter(lambda ov: not validate_overrides(ov)), steps())
def test_engine_matches_session_oracle_with_other_overrides(
    alerts: Overrides, stream: list[Step]
) -> None:
    assert engine_events(stream, alerts) == oracle_events(stream, alerts)
