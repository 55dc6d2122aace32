"""An independent reference model of the blood-pressure rules, for differential testing.

Written from clinical-rules.md alone (never from monitord/engine's internals), for one
chair with the default thresholds: bp.crisis, bp.severe, bp.not_declining, bp.rise,
bp.baseline_high, tech.bp_invalid, tech.bp_overdue and the session phases they depend on.
It is deliberately plain (one class, no rule table) so that a disagreement with the engine
points at a reading of the text, not at shared code. Other rules (bp.low, HR, SpO2,
session.*) are not modelled: none of them inhibits a rule modelled here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitord.engine import Ack, SessionCmd

MODELLED = (
    "bp.crisis",
    "bp.severe",
    "bp.rise",
    "bp.baseline_high",
    "bp.not_declining",
    "tech.bp_invalid",
    "tech.bp_overdue",
)
# Evaluation order on a reading: descending priority, then table order ("Order").
_ORDER = ("bp.crisis", "bp.severe", "bp.not_declining", "bp.rise", "bp.baseline_high")
_ESCALATE = {"bp.crisis": 120.0, "bp.severe": 300.0, "bp.not_declining": 300.0}
_INHIBITED_BY = {"bp.severe": ("bp.crisis",), "bp.rise": ("bp.crisis", "bp.severe")}
_CONFIRM = {"bp.crisis": 1, "bp.severe": 2, "bp.rise": 2, "bp.not_declining": 2}
_CLEAR = 2
_OVERDUE_AFTER = 600.0 + 180.0  # NIBP cycle + 180 s
_NOT_DECLINING_AFTER = 120 * 60.0

Ev = tuple[float, str, str, int | None]  # (t, rule, event, level)
Base = tuple[float, float]


@dataclass
class _Alert:
    raised: float
    acked: bool = False
    next_n: int = 1  # the next escalation deadline is raised + next_n x interval
    level: int = 0  # escalations emitted so far


@dataclass
class BPOracle:
    phase: str = "idle"
    dose_start: float | None = None
    baseline_readings: list[tuple[float, float]] = field(default_factory=list)
    base: Base | None = None
    alerts: dict[str, _Alert] = field(default_factory=dict)
    raise_run: dict[str, int] = field(default_factory=dict)
    clear_run: dict[str, int] = field(default_factory=dict)
    overdue_due: float | None = None
    out: list[Ev] = field(default_factory=list)

    # -- timers -------------------------------------------------------------------------
    def _deadlines(self) -> list[tuple[float, int, str]]:
        due: list[tuple[float, int, str]] = []
        for rule, a in self.alerts.items():
            if rule in _ESCALATE and not a.acked:
                due.append((a.raised + a.next_n * _ESCALATE[rule], MODELLED.index(rule), rule))
        if self.overdue_due is not None:
            due.append((self.overdue_due, MODELLED.index("tech.bp_overdue"), "tech.bp_overdue"))
        return sorted(due)

    def advance(self, t: float, strict: bool) -> None:
        """Fire every timer due before `t` (strict) or at or before `t`."""
        while True:
            due = self._deadlines()
            if not due or due[0][0] > t or (strict and due[0][0] == t):
                return
            when, _, rule = due[0]
            if rule == "tech.bp_overdue":
                self.overdue_due = None  # no re-raise until a valid BP clears it
                self.alerts[rule] = _Alert(when)
                self.out.append((when, rule, "raised", None))
                continue
            a = self.alerts[rule]
            a.next_n += 1
            # A deadline that falls while inhibited is skipped (acked ones are not listed).
            if not self._inhibited(rule):
                a.level += 1
                self.out.append((when, rule, "escalated", a.level))

    # -- helpers ------------------------------------------------------------------------
    def _inhibited(self, rule: str) -> bool:
        return any(r in self.alerts for r in _INHIBITED_BY.get(rule, ()))

    def _raise(self, t: float, rule: str) -> None:
        self.alerts[rule] = _Alert(t)
        self.raise_run[rule] = 0
        self.clear_run[rule] = 0
        self.out.append((t, rule, "raised", None))

    def _clear(self, t: float, rule: str) -> None:
        del self.alerts[rule]
        self.raise_run[rule] = 0
        self.clear_run[rule] = 0
        self.out.append((t, rule, "cleared", None))

    def _restart_runs(self) -> None:
        self.raise_run.clear()
        self.clear_run.clear()

    # -- conditions ---------------------------------------------------------------------
    def _meets(self, rule: str, t: float, s: float, d: float) -> bool | None:
        """The raise condition, or None when the rule is off (not evaluated)."""
        if rule == "bp.crisis":
            return s >= 200 or d >= 120
        if rule == "bp.severe":
            return s >= 180 or d >= 110
        if rule == "bp.rise":
            if self.phase not in ("dosing", "observation") or self.base is None:
                return None
            return s - self.base[0] >= 40 or d - self.base[1] >= 25
        assert rule == "bp.not_declining"
        if self.phase != "observation":
            return None
        assert self.dose_start is not None
        late = t >= self.dose_start + _NOT_DECLINING_AFTER
        high = s >= 160 or d >= 100 or (self.base is not None and s >= self.base[0] + 20)
        return late and high

    def _clears(self, rule: str, t: float, s: float, d: float) -> bool:
        if rule == "bp.crisis":
            return s < 180 and d < 110
        if rule == "bp.severe":
            return s < 170 and d < 100
        if rule == "bp.rise":
            assert self.base is not None
            return s - self.base[0] < 30 and d - self.base[1] < 18
        return not self._meets(rule, t, s, d)

    # -- inputs -------------------------------------------------------------------------
    def bp(self, t: float, values: Mapping[str, float | None], device_valid: bool) -> None:
        s, d, m = values.get("sys_mmHg"), values.get("dia_mmHg"), values.get("map_mmHg")
        if not device_valid or s is None or d is None or not valid_bp(s, d, m):
            if "tech.bp_invalid" not in self.alerts:
                self._raise(t, "tech.bp_invalid")
            return
        for rule in ("bp.crisis", "bp.severe", "bp.not_declining", "bp.rise"):
            self._rule_on_reading(rule, t, s, d)
        if self.phase == "baseline":
            self.baseline_readings.append((s, d))
            mean = _mean(self.baseline_readings)
            if mean is not None:
                high = mean[0] > 140 or mean[1] > 90
                if high and "bp.baseline_high" not in self.alerts:
                    self._raise(t, "bp.baseline_high")
                elif not high and "bp.baseline_high" in self.alerts:
                    self._clear(t, "bp.baseline_high")
        if "tech.bp_invalid" in self.alerts:
            self._clear(t, "tech.bp_invalid")
        if self.phase in ("dosing", "observation"):
            if "tech.bp_overdue" in self.alerts:
                self._clear(t, "tech.bp_overdue")
            self.overdue_due = t + _OVERDUE_AFTER

    def _rule_on_reading(self, rule: str, t: float, s: float, d: float) -> None:
        if self._inhibited(rule):
            # Not evaluated; its runs restart when the inhibition ends.
            self.raise_run[rule] = 0
            self.clear_run[rule] = 0
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
            if n >= _CONFIRM[rule]:
                self._raise(t, rule)
            else:
                self.raise_run[rule] = n
                self.out.append((t, rule, "pending", None))
            return
        if not self._clears(rule, t, s, d):
            self.clear_run[rule] = 0  # also cancels a latched crisis' held clear condition
            return
        n = self.clear_run.get(rule, 0) + 1
        self.clear_run[rule] = n
        if n >= _CLEAR and (rule != "bp.crisis" or a.acked):
            self._clear(t, rule)

    def ack(self, ev: Ack) -> None:
        rule = ev.rule
        a = self.alerts.get(rule or "")
        if rule is None or a is None or a.acked:
            return
        a.acked = True
        self.out.append((ev.t, rule, "acknowledged", None))
        if rule == "bp.crisis" and self.clear_run.get(rule, 0) >= _CLEAR:
            self._clear(ev.t, rule)

    def session(self, ev: SessionCmd) -> None:
        t = ev.t
        if ev.action == "start":
            if self.phase != "idle":
                return
            self.phase = "baseline"
            self.baseline_readings = []
            self.base = None
            self.dose_start = None
            self._restart_runs()
        elif ev.action == "dose_start":
            if self.phase != "baseline":
                return
            self.phase = "dosing"
            self.dose_start = t
            self.base = _mean(self.baseline_readings)
            if "bp.baseline_high" in self.alerts:
                self._clear(t, "bp.baseline_high")
            self.overdue_due = t + _OVERDUE_AFTER
        elif ev.action == "dose_end":
            if self.phase != "dosing":
                return
            self.phase = "observation"
        else:
            if self.phase == "idle":
                return
            self.phase = "idle"
            # "Order" holds on this input too: descending priority, then table order.
            for rule in ("bp.not_declining", "bp.rise", "bp.baseline_high", "tech.bp_overdue"):
                if rule in self.alerts:
                    self._clear(t, rule)
            self.overdue_due = None
            self.base = None
            self._restart_runs()


def valid_bp(s: float, d: float, m: float | None) -> bool:
    ok = 50 <= s <= 260 and 20 <= d <= 160 and s > d and s - d >= 10
    return ok and (m is None or d <= m <= s)


def _mean(readings: list[tuple[float, float]]) -> Base | None:
    last = readings[-3:]
    if len(last) < 2:
        return None
    return (sum(r[0] for r in last) / len(last), sum(r[1] for r in last) / len(last))
