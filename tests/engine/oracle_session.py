"""An independent reference model of the rules oracle_bp.py and oracle_vitals.py leave out,
for differential testing: bp.low, bp.very_low, session.check_missed, session.no_baseline,
session.discharge_ready, tech.device_lost, tech.sensor_off, and `[alerts]` threshold
overrides of the BP rules (thresholds, confirm, clear).

Written from clinical-rules.md (and the parameter names of docs/alerts.md) alone, never
from monitord/engine's internals. One chair. Deliberately plain: each rule spelt out where
it acts. discharge_ready needs to know whether any physiological alert is active, so this
model drives the two other oracles (a BP oracle with the overridden thresholds and the
HR/SpO2 oracle) and reads their active alerts; it does not share their code for its own
rules. Where the text leaves room, the reading taken is marked READING.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitord.engine import Ack, Link, Sample, SessionCmd
from monitord.models import Kind

from .oracle_bp import BPOracle, valid_bp
from .oracle_vitals import RULE_IDS as VITAL_RULES
from .oracle_vitals import VitalsOracle

# (t, rule, event, level, priority, device-or-signal)
Ev = tuple[float, str, str, int | None, str, str | None]
Overrides = Mapping[str, Mapping[str, Any]]

MODELLED = (
    "bp.low",
    "bp.very_low",
    "session.check_missed",
    "session.no_baseline",
    "session.discharge_ready",
    "tech.device_lost",
    "tech.sensor_off",
)
ESCALATE = {"high": 120.0, "medium": 300.0}
PHYSIOLOGICAL_BP = ("bp.crisis", "bp.severe", "bp.rise", "bp.not_declining")

# The table's BP defaults, as docs/alerts.md names them for `[alerts]`.
BP_DEFAULTS: dict[str, dict[str, float]] = {
    "bp.crisis": {"sys_ge": 200, "dia_ge": 120, "clear_sys_lt": 180, "clear_dia_lt": 110,
                  "confirm": 1, "clear": 2},
    "bp.severe": {"sys_ge": 180, "dia_ge": 110, "clear_sys_lt": 170, "clear_dia_lt": 100,
                  "confirm": 2, "clear": 2},
    "bp.rise": {"sys_rise_ge": 40, "dia_rise_ge": 25, "clear_sys_rise_lt": 30,
                "clear_dia_rise_lt": 18, "confirm": 2, "clear": 2},
    "bp.not_declining": {"after_dose_s": 7200, "sys_rise_ge": 20, "sys_ge": 160,
                         "dia_ge": 100, "confirm": 2, "clear": 2},
    "bp.low": {"sys_lt": 90, "map_lt": 65, "clear_sys_ge": 95, "clear_map_ge": 70,
               "confirm": 2, "clear": 2},
    "bp.very_low": {"sys_lt": 80, "clear_sys_ge": 90, "confirm": 1, "clear": 2},
}  # fmt: skip


# The other modelled rules' parameters (docs/alerts.md "Overrides").
OTHER_DEFAULTS: dict[str, dict[str, float]] = {
    "session.check_missed": {"window_start_s": 2100, "window_end_s": 3000},
    "tech.device_lost": {"after_s": 30},
    "tech.sensor_off": {"after_s": 15},
    "session.discharge_ready": {"esketamine_observe_s": 7200, "iv_ketamine_observe_s": 3600,
                                "sys_le": 140, "dia_le": 90, "baseline_factor": 1.1,
                                "spo2_ge": 94, "spo2_window_s": 300},
}  # fmt: skip
PRIORITY = {
    "bp.low": "medium",
    "bp.very_low": "high",
    "session.check_missed": "medium",
    "session.no_baseline": "low",
    "session.discharge_ready": "info",
    "tech.device_lost": "medium",
    "tech.sensor_off": "low",
}


def params(overrides: Overrides | None) -> dict[str, dict[str, float]]:
    ov = overrides or {}
    defaults = {**BP_DEFAULTS, **OTHER_DEFAULTS}
    return {
        r: {k: float(ov.get(r, {}).get(k, v)) for k, v in d.items()} for r, d in defaults.items()
    }


class ParamBPOracle(BPOracle):
    """oracle_bp's model with the thresholds, confirm and clear counts of `[alerts]`."""

    def __init__(self, p: dict[str, dict[str, float]]) -> None:
        super().__init__()
        self.p = p

    def _meets(self, rule: str, t: float, s: float, d: float) -> bool | None:
        p = self.p.get(rule)
        if rule in ("bp.crisis", "bp.severe"):
            assert p is not None
            return s >= p["sys_ge"] or d >= p["dia_ge"]
        if rule == "bp.rise":
            assert p is not None
            if self.phase not in ("dosing", "observation") or self.base is None:
                return None
            return s - self.base[0] >= p["sys_rise_ge"] or d - self.base[1] >= p["dia_rise_ge"]
        assert rule == "bp.not_declining" and p is not None
        if self.phase != "observation":
            return None
        assert self.dose_start is not None
        late = t >= self.dose_start + p["after_dose_s"]
        rel = self.base is not None and s >= self.base[0] + p["sys_rise_ge"]
        return late and (s >= p["sys_ge"] or d >= p["dia_ge"] or rel)

    def _clears(self, rule: str, t: float, s: float, d: float) -> bool:
        p = self.p[rule]
        if rule in ("bp.crisis", "bp.severe"):
            return s < p["clear_sys_lt"] and d < p["clear_dia_lt"]
        if rule == "bp.rise":
            assert self.base is not None
            rs, rd = s - self.base[0], d - self.base[1]
            return rs < p["clear_sys_rise_lt"] and rd < p["clear_dia_rise_lt"]
        return not self._meets(rule, t, s, d)

    def _rule_on_reading(self, rule: str, t: float, s: float, d: float) -> None:
        # oracle_bp's logic with this rule's confirm and clear counts.
        if self._inhibited(rule):
            self.raise_run[rule] = self.clear_run[rule] = 0
            return
        meets = self._meets(rule, t, s, d)
        if meets is None:
            return
        a = self.alerts.get(rule)
        if a is None:
            if not meets:
                self.raise_run[rule] = 0
                return
            n = self.raise_run.get(rule, 0) + 1
            if n >= self.p[rule]["confirm"]:
                self._raise(t, rule)
                return
            self.raise_run[rule] = n
            if n == 1:  # READING: only the first reading of a run emits pending
                self.out.append((t, rule, "pending", None))
            return
        if not self._clears(rule, t, s, d):
            self.clear_run[rule] = 0
            return
        n = self.clear_run.get(rule, 0) + 1
        self.clear_run[rule] = n
        if n >= self.p[rule]["clear"] and (rule != "bp.crisis" or a.acked):
            self._clear(t, rule)

    def ack(self, ev: Ack) -> None:
        a = self.alerts.get(ev.rule or "")
        if ev.rule == "bp.crisis" and a is not None and not a.acked:
            a.acked = True
            self.out.append((ev.t, "bp.crisis", "acknowledged", None))
            if self.clear_run.get("bp.crisis", 0) >= self.p["bp.crisis"]["clear"]:
                self._clear(ev.t, "bp.crisis")
            return
        super().ack(ev)


@dataclass
class Alert:
    raised: float
    priority: str
    acked: bool = False
    next_n: int = 1
    level: int = 0


@dataclass
class SessionOracle:
    overrides: Overrides | None = None
    bp_oracle: ParamBPOracle = field(init=False)
    vitals: VitalsOracle = field(default_factory=VitalsOracle)
    p: dict[str, dict[str, float]] = field(init=False)
    out: list[Ev] = field(default_factory=list)
    # session
    phase: str = "idle"
    protocol: str | None = None
    dose_start: float | None = None
    dose_end: float | None = None
    session_bps: list[tuple[float, float, float]] = field(default_factory=list)  # t, s, d
    baseline_bps: list[tuple[float, float]] = field(default_factory=list)
    base: tuple[float, float] | None = None
    # alerts of the rules modelled here: key (rule, device-or-signal)
    alerts: dict[tuple[str, str | None], Alert] = field(default_factory=dict)
    raise_run: dict[str, int] = field(default_factory=dict)
    clear_run: dict[str, int] = field(default_factory=dict)
    check_due: float | None = None
    lost_due: dict[str, float] = field(default_factory=dict)  # device -> deadline
    off_due: dict[str, float] = field(default_factory=dict)  # signal -> deadline
    spo2: list[tuple[float, float]] = field(default_factory=list)  # valid SpO2 (t, value)
    # discharge_ready re-checks: observation time met, a low SpO2 leaving the 5-min window
    discharge_due: set[float] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.p = params(self.overrides)
        self.bp_oracle = ParamBPOracle(self.p)

    # -- events -------------------------------------------------------------------------
    def _emit(
        self, t: float, rule: str, event: str, key: str | None, lvl: int | None = None
    ) -> None:
        a = self.alerts.get((rule, key))
        prio = a.priority if a is not None else self._priority(rule)
        self.out.append((t, rule, event, lvl, prio, key))

    def _raise(self, t: float, rule: str, key: str | None = None, prio: str | None = None) -> None:
        self.alerts[(rule, key)] = Alert(t, prio or self._priority(rule))
        self._emit(t, rule, "raised", key)
        self.raise_run[rule] = self.clear_run[rule] = 0

    def _clear(self, t: float, rule: str, key: str | None = None) -> None:
        if (rule, key) in self.alerts:
            self._emit(t, rule, "cleared", key)
            del self.alerts[(rule, key)]
        self.raise_run[rule] = self.clear_run[rule] = 0

    def _active(self, rule: str, key: str | None = None) -> bool:
        return (rule, key) in self.alerts

    # -- timers -------------------------------------------------------------------------
    def _observe_at(self) -> float | None:
        if self.protocol == "esketamine" and self.dose_start is not None:
            return self.dose_start + self.p["session.discharge_ready"]["esketamine_observe_s"]
        if self.protocol == "iv-ketamine" and self.dose_end is not None:
            return self.dose_end + self.p["session.discharge_ready"]["iv_ketamine_observe_s"]
        return None  # READING: no other protocol has an observation time

    def _deadlines(self) -> list[tuple[float, str, str | None]]:
        due: list[tuple[float, str, str | None]] = []
        for (rule, key), a in self.alerts.items():
            every = self._escalate_s(rule, a.priority)
            if every and not a.acked:
                due.append((a.raised + a.next_n * every, "esc:" + rule, key))
        if self.check_due is not None:
            due.append((self.check_due, "check", None))
        for dev, when in self.lost_due.items():
            due.append((when, "lost", dev))
        for sig, when in self.off_due.items():
            due.append((when, "off", sig))
        for when in self.discharge_due:
            due.append((when, "discharge", None))
        return sorted(due, key=lambda d: (d[0], d[1], d[2] or ""))

    def advance(self, t: float, strict: bool) -> None:
        self.bp_oracle.advance(t, strict)
        self.vitals.advance(t, strict)
        while True:
            due = [d for d in self._deadlines() if d[0] < t or (d[0] == t and not strict)]
            if not due:
                return
            when, what, key = due[0]
            if what.startswith("esc:"):
                rule = what[4:]
                a = self.alerts[(rule, key)]
                a.next_n += 1
                if not (rule == "bp.low" and self._active("bp.very_low")):
                    a.level += 1
                    self._emit(when, rule, "escalated", key, a.level)
            elif what == "check":
                self.check_due = None
                assert self.dose_start is not None
                w = self.p["session.check_missed"]
                lo, hi = self.dose_start + w["window_start_s"], self.dose_start + w["window_end_s"]
                window = [x for x in self.session_bps if lo <= x[0] <= hi]
                if not window:
                    self._raise(when, "session.check_missed")
            elif what == "lost":
                del self.lost_due[key or ""]
                ov = (self.overrides or {}).get("tech.device_lost", {})
                dosing = str(ov.get("priority_dosing", "high"))
                prio = dosing if self.phase == "dosing" else self._priority("tech.device_lost")
                self._raise(when, "tech.device_lost", key, prio)
            elif what == "off":
                del self.off_due[key or ""]
                self._raise(when, "tech.sensor_off", key)
            else:
                self.discharge_due.discard(when)
                self._discharge(when)

    # -- inputs -------------------------------------------------------------------------
    def feed(self, ev: Sample | SessionCmd | Ack | Link) -> None:
        if isinstance(ev, Sample):
            self.bp_oracle_feed(ev)
            if ev.kind in (Kind.HR, Kind.SPO2) and not ev.stored:
                sig = str(ev.kind)
                key = "hr_bpm" if sig == "hr" else "spo2_pct"
                self.vitals.sample(ev.t, ev.chair, sig, ev.values.get(key), ev.valid, ev.contact)
                self._contact(ev.t, sig, ev.contact)
                v = ev.values.get(key)
                valid = ev.valid and ev.contact is not False and v is not None
                if sig == "spo2" and valid and v is not None and 50 <= v <= 100:
                    self.spo2.append((ev.t, v))
                    dp = self.p["session.discharge_ready"]
                    if v < dp["spo2_ge"]:
                        self.discharge_due.add(ev.t + dp["spo2_window_s"])
            if ev.kind == Kind.BP and not ev.stored:
                self._bp(ev)
        elif isinstance(ev, SessionCmd):
            self.bp_oracle.session(ev)
            self._session(ev)
        elif isinstance(ev, Ack):
            self.bp_oracle.ack(ev)
            if ev.rule is not None:
                self.vitals.ack(ev.t, ev.chair, ev.rule)
                self._ack(ev.t, ev.rule)
        else:
            self._link(ev)
        self._discharge(ev.t)

    def bp_oracle_feed(self, ev: Sample) -> None:
        if ev.kind == Kind.BP and not ev.stored:
            self.bp_oracle.bp(ev.t, ev.values, ev.valid)

    def _bp(self, ev: Sample) -> None:
        s, d, m = ev.values.get("sys_mmHg"), ev.values.get("dia_mmHg"), ev.values.get("map_mmHg")
        if not ev.valid or s is None or d is None or not valid_bp(s, d, m):
            return
        # very_low (high) goes before low (medium): it inhibits low on the same reading.
        self._low_rule("bp.very_low", ev.t, s, m)
        self._low_rule("bp.low", ev.t, s, m)
        self.session_bps.append((ev.t, s, d))
        if self.phase == "baseline":
            self.baseline_bps.append((s, d))
        self._clear(ev.t, "session.check_missed")

    def _low_meets(self, rule: str, s: float, m: float | None) -> bool:
        p = self.p[rule]
        if rule == "bp.very_low":
            return s < p["sys_lt"]
        return s < p["sys_lt"] or (m is not None and m < p["map_lt"])

    def _low_clears(self, rule: str, s: float, m: float | None) -> bool:
        p = self.p[rule]
        if rule == "bp.very_low":
            return s >= p["clear_sys_ge"]
        return s >= p["clear_sys_ge"] and (m is None or m >= p["clear_map_ge"])

    def _low_rule(self, rule: str, t: float, s: float, m: float | None) -> None:
        if rule == "bp.low" and self._active("bp.very_low"):
            self.raise_run[rule] = self.clear_run[rule] = 0  # not evaluated
            return
        p = self.p[rule]
        if not self._active(rule):
            if not self._low_meets(rule, s, m):
                self.raise_run[rule] = 0
                return
            n = self.raise_run.get(rule, 0) + 1
            if n >= p["confirm"]:
                self._raise(t, rule)
                return
            self.raise_run[rule] = n
            if n == 1:  # READING: as above
                self.out.append((t, rule, "pending", None, self._priority(rule), None))
            return
        if not self._low_clears(rule, s, m):
            self.clear_run[rule] = 0
            return
        self.clear_run[rule] = self.clear_run.get(rule, 0) + 1
        if self.clear_run[rule] >= p["clear"]:
            self._clear(t, rule)

    def _contact(self, t: float, sig: str, contact: bool | None) -> None:
        if contact is False:
            if not self._active("tech.sensor_off", sig) and sig not in self.off_due:
                self.off_due[sig] = t + self.p["tech.sensor_off"]["after_s"]
            return
        self.off_due.pop(sig, None)
        self._clear(t, "tech.sensor_off", sig)

    def _link(self, ev: Link) -> None:
        if ev.up:
            self.lost_due.pop(ev.device, None)
            self._clear(ev.t, "tech.device_lost", ev.device)
        elif not self._active("tech.device_lost", ev.device) and ev.device not in self.lost_due:
            self.lost_due[ev.device] = ev.t + self.p["tech.device_lost"]["after_s"]

    def _ack(self, t: float, rule: str) -> None:
        for (r, key), a in list(self.alerts.items()):
            if r == rule and not a.acked:
                a.acked = True
                self._emit(t, rule, "acknowledged", key)

    def _session(self, ev: SessionCmd) -> None:
        t = ev.t
        if ev.action == "start" and self.phase == "idle":
            # docs/scenarios.md: the chair's configured protocol, else esketamine.
            self.phase, self.protocol = "baseline", ev.protocol or "esketamine"
            self.dose_start = self.dose_end = self.base = None
            self.session_bps, self.baseline_bps = [], []
            self.raise_run.clear()
            self.clear_run.clear()
        elif ev.action == "dose_start" and self.phase == "baseline":
            self.phase, self.dose_start = "dosing", t
            last = self.baseline_bps[-3:]
            if len(last) >= 2:
                self.base = (
                    sum(x[0] for x in last) / len(last),
                    sum(x[1] for x in last) / len(last),
                )
            else:
                self._raise(t, "session.no_baseline")
            if self.protocol == "esketamine":
                self.check_due = t + self.p["session.check_missed"]["window_end_s"]
        elif ev.action == "dose_end" and self.phase == "dosing":
            self.phase, self.dose_end = "observation", t
            obs = self._observe_at()
            if obs is not None and obs > t:
                self.discharge_due.add(obs)
        elif ev.action == "end" and self.phase != "idle":
            self.phase = "idle"
            for rule in ("session.check_missed", "session.no_baseline", "session.discharge_ready"):
                self._clear(t, rule)
            self.check_due = None
            self.raise_run.clear()
            self.clear_run.clear()

    # -- discharge readiness ------------------------------------------------------------
    def _discharge(self, t: float) -> None:
        ready = self.phase == "observation" and self._ready(t)
        if ready and not self._active("session.discharge_ready"):
            self._raise(t, "session.discharge_ready")
        elif not ready:
            self._clear(t, "session.discharge_ready")

    def _ready(self, t: float) -> bool:
        obs = self._observe_at()
        if obs is None or t < obs:
            return False
        physio = any(r in self.bp_oracle.alerts for r in PHYSIOLOGICAL_BP)
        physio = physio or self._active("bp.low") or self._active("bp.very_low")
        ch = next(iter(self.vitals.chairs.values()), None)  # one chair per model
        if ch is not None and any(ch.rules[r].active for r in VITAL_RULES):
            return False
        if physio or len(self.session_bps) < 2:
            return False
        bs, bd = self.base if self.base is not None else (None, None)
        dp = self.p["session.discharge_ready"]
        f = dp["baseline_factor"]
        for _, s, d in self.session_bps[-2:]:
            smax = dp["sys_le"] if bs is None else max(dp["sys_le"], f * bs)
            dmax = dp["dia_le"] if bd is None else max(dp["dia_le"], f * bd)
            # "the bp.not_declining terms": that rule's thresholds, as configured.
            nd = self.p["bp.not_declining"]
            rel = bs is not None and s >= bs + nd["sys_rise_ge"]
            if s > smax or d > dmax or s >= nd["sys_ge"] or d >= nd["dia_ge"] or rel:
                return False
        # READING: a sample at t - 300 has left the window (the timer fires at ts + 300).
        return all(v >= dp["spo2_ge"] for ts, v in self.spo2 if t - ts < dp["spo2_window_s"])

    def _priority(self, rule: str) -> str:
        return str((self.overrides or {}).get(rule, {}).get("priority", PRIORITY[rule]))

    def _escalate_s(self, rule: str, priority: str) -> float | None:
        """The re-notification interval: escalate_s if given (0: never), else by priority;
        low and info never. device_lost made low: escalate_s is for its dosing alerts."""
        if priority not in ESCALATE:
            return None
        esc = (self.overrides or {}).get(rule, {}).get("escalate_s")
        return ESCALATE[priority] if esc is None else float(esc) or None
