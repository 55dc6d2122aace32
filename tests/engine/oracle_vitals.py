"""An independent reference model of the HR and SpO2 rules, for differential testing.

Written from clinical-rules.md alone (the rule table, "Confirmation, clearing, latching"
and "Precise semantics"), without looking at monitord/engine's implementation, so that a
misreading of the text in one is unlikely to be repeated in the other. It is deliberately
plain and slow: a test helper, not product code.

What it models, per chair:
- the six rules hr.very_high, hr.very_low, hr.high, hr.low, spo2.very_low, spo2.low, with
  `[alerts]` overrides of for_s, clear_for_s, thresholds, priority, latching and escalate_s
  (none latches by default); a rule raises (clears) at the first valid sample with
  `t - run_start >= for` (`clear_for`), its condition holding on every valid sample of the
  run; a valid sample not meeting it ends the run;
- validity: HR 20..250, SpO2 50..100, the device's `valid`, and `contact` not False;
  invalid samples are skipped (they neither confirm nor break a run);
- the 10 s gap between consecutive valid samples of a signal restarts both runs;
- inhibition (very_high -> high, very_low -> low, spo2.very_low -> spo2.low): an inhibited
  rule is not evaluated and its runs restart when the inhibition ends;
- latching: the clear condition held for clear_for waits for an ack (acknowledged and
  cleared at the ack's t); a sample that breaks the clear run, a gap, or an inhibition
  cancels the held condition; acked first, it clears as soon as the condition has held;
- ack by rule, and escalation deadlines at raise time + n x interval (120 s high, 300 s
  medium, low never), skipped while acknowledged or inhibited, `level` counting the
  escalations emitted; timers due at an input's `t` fire after that input (the caller
  feeds every input at one `t` before advancing to it).

Every other input (BP, session commands, links, acks of other rules) changes nothing here:
the physiological absolute rules carry on across sessions and link gaps.

Where clinical-rules.md leaves room, the reading taken is marked READING below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

GAP_S = 10.0
ESCALATION_S: dict[str, float | None] = {"high": 120.0, "medium": 300.0, "low": None}
# READING: how `level` counts after a skipped deadline ("escalated (level 1, 2, ...)").
# "emitted" numbers the escalated events 1, 2, 3 without holes (the engine's reading);
# "deadline" would report n of the deadline raise + n x interval.
LevelMode = Literal["emitted", "deadline"]


@dataclass(frozen=True)
class Rule:
    id: str
    signal: str  # "hr" | "spo2"
    priority: str  # "high" | "medium" | "low"
    cond: Callable[[float], bool]
    for_s: float
    clear: Callable[[float], bool]
    clear_for_s: float
    inhibited_by: str | None = None
    latching: bool = False
    escalate_s: float | None = None  # None: never re-notified


# The table's rows, in table order, with their defaults (thresholds, for, clear_for).
_TABLE: tuple[tuple[str, str, str, str | None, dict[str, float]], ...] = (
    ("hr.high", "hr", "medium", "hr.very_high",
     {"hr_gt": 120, "clear_hr_lt": 110, "for_s": 300, "clear_for_s": 120}),
    ("hr.very_high", "hr", "high", None,
     {"hr_gt": 150, "clear_hr_lt": 140, "for_s": 60, "clear_for_s": 60}),
    ("hr.low", "hr", "medium", "hr.very_low",
     {"hr_lt": 50, "clear_hr_gt": 55, "for_s": 60, "clear_for_s": 60}),
    ("hr.very_low", "hr", "high", None,
     {"hr_lt": 40, "clear_hr_gt": 45, "for_s": 30, "clear_for_s": 30}),
    ("spo2.low", "spo2", "medium", "spo2.very_low",
     {"spo2_lt": 90, "clear_spo2_ge": 92, "for_s": 15, "clear_for_s": 30}),
    ("spo2.very_low", "spo2", "high", None,
     {"spo2_lt": 85, "clear_spo2_ge": 88, "for_s": 10, "clear_for_s": 30}),
)  # fmt: skip
RULE_IDS = tuple(row[0] for row in _TABLE)
RANK = {"high": 0, "medium": 1, "low": 2}


def _conditions(p: dict[str, float]) -> tuple[Callable[[float], bool], Callable[[float], bool]]:
    if "hr_gt" in p:
        return (lambda v: v > p["hr_gt"]), (lambda v: v < p["clear_hr_lt"])
    if "hr_lt" in p:
        return (lambda v: v < p["hr_lt"]), (lambda v: v > p["clear_hr_gt"])
    return (lambda v: v < p["spo2_lt"]), (lambda v: v >= p["clear_spo2_ge"])


def build_rules(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Rule, ...]:
    """The six rules with `[alerts]` overrides applied (the same keys as the config file:
    thresholds, for_s, clear_for_s, priority, latching, escalate_s), in evaluation order:
    descending priority, then table order. READING: an inhibitor always goes before the
    rule it inhibits, also when an override gives both the same priority, so that it
    inhibits it on the reading that raises it ("a rule raised by a reading already
    inhibits lower rules on that same reading")."""
    overrides = overrides or {}
    rules: list[Rule] = []
    for rid, signal, priority, inhibited_by, defaults in _TABLE:
        ov = dict(overrides.get(rid, {}))
        p = {k: float(ov.get(k, v)) for k, v in defaults.items()}
        prio = str(ov.get("priority", priority))
        esc = ov.get("escalate_s")
        interval = ESCALATION_S.get(prio) if esc is None else float(esc)
        cond, clear = _conditions(p)
        rules.append(
            Rule(rid, signal, prio, cond, p["for_s"], clear, p["clear_for_s"], inhibited_by,
                 bool(ov.get("latching", False)), interval or None)
        )  # fmt: skip
    by_rank = sorted(rules, key=lambda r: (RANK[r.priority], RULE_IDS.index(r.id)))
    ordered: list[Rule] = []
    for r in by_rank:
        inhibitor = next((i for i in rules if i.id == r.inhibited_by), None)
        if inhibitor is not None and inhibitor not in ordered:
            ordered.append(inhibitor)
        if r not in ordered:
            ordered.append(r)
    return tuple(ordered)


VALUE_KEY = {"hr": "hr_bpm", "spo2": "spo2_pct"}
VALID_RANGE = {"hr": (20.0, 250.0), "spo2": (50.0, 100.0)}

# (t, chair, rule, event, level)
OracleEvent = tuple[float, str, str, str, int | None]


@dataclass
class RuleState:
    active: bool = False
    raised_t: float = 0.0
    acked: bool = False
    held: bool = False  # latching: the clear condition has held for clear_for, awaiting ack
    next_n: int = 1  # next escalation deadline is raised_t + next_n x interval
    emitted: int = 0  # escalated events of this episode so far
    raise_start: float | None = None
    clear_start: float | None = None


@dataclass
class ChairModel:
    rules: dict[str, RuleState] = field(default_factory=lambda: {r: RuleState() for r in RULE_IDS})
    last_valid_t: dict[str, float] = field(default_factory=dict)


class VitalsOracle:
    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        level_mode: LevelMode = "emitted",
    ) -> None:
        self.rules = build_rules(overrides)
        self.by_id = {r.id: r for r in self.rules}
        self.level_mode = level_mode
        self.chairs: dict[str, ChairModel] = {}

    def _chair(self, chair: str) -> ChairModel:
        return self.chairs.setdefault(chair, ChairModel())

    def _inhibited(self, ch: ChairModel, rule: Rule) -> bool:
        return rule.inhibited_by is not None and ch.rules[rule.inhibited_by].active

    # -- inputs ------------------------------------------------------------------------
    def sample(
        self,
        t: float,
        chair: str,
        signal: str,
        value: float | None,
        device_valid: bool = True,
        contact: bool | None = None,
    ) -> list[OracleEvent]:
        """One HR or SpO2 sample (signal "hr" / "spo2")."""
        ch = self._chair(chair)
        lo, hi = VALID_RANGE[signal]
        if not device_valid or contact is False or value is None or not lo <= value <= hi:
            return []
        gap = t - ch.last_valid_t[signal] > GAP_S if signal in ch.last_valid_t else False
        ch.last_valid_t[signal] = t
        out: list[OracleEvent] = []
        for rule in self.rules:
            if rule.signal != signal:
                continue
            st = ch.rules[rule.id]
            if gap or self._inhibited(ch, rule):
                # Both runs restart. READING: a held latched clear is no longer held (the
                # clear run it rests on restarted). READING: the runs of a rule whose
                # inhibition ended on this sample start on this very sample.
                st.raise_start = st.clear_start = None
                st.held = False
            if self._inhibited(ch, rule):
                continue
            if not st.active:
                if not rule.cond(value):
                    st.raise_start = None
                    continue
                if st.raise_start is None:
                    st.raise_start = t
                if t - st.raise_start >= rule.for_s:
                    ch.rules[rule.id] = RuleState(active=True, raised_t=t)
                    out.append((t, chair, rule.id, "raised", None))
            else:
                if not rule.clear(value):
                    st.clear_start = None
                    st.held = False
                    continue
                if st.clear_start is None:
                    st.clear_start = t
                if t - st.clear_start >= rule.clear_for_s:
                    if rule.latching and not st.acked:
                        st.held = True
                    else:
                        ch.rules[rule.id] = RuleState()
                        out.append((t, chair, rule.id, "cleared", None))
        return out

    def ack(self, t: float, chair: str, rule: str) -> list[OracleEvent]:
        st = self._chair(chair).rules.get(rule)
        if st is None or not st.active or st.acked:
            return []
        st.acked = True
        out: list[OracleEvent] = [(t, chair, rule, "acknowledged", None)]
        if st.held:
            self._chair(chair).rules[rule] = RuleState()
            out.append((t, chair, rule, "cleared", None))
        return out

    # -- timers ------------------------------------------------------------------------
    def advance(self, t: float, strict: bool = False) -> list[OracleEvent]:
        """Fire escalation deadlines due before `t` (or at `t` unless strict), per chair in
        deadline order."""
        out: list[OracleEvent] = []
        for chair, ch in self.chairs.items():
            while True:
                due: list[tuple[float, int, str]] = []
                for i, rule in enumerate(self.rules):
                    st = ch.rules[rule.id]
                    if st.active and not st.acked and rule.escalate_s is not None:
                        d = st.raised_t + st.next_n * rule.escalate_s
                        if d < t or (d == t and not strict):
                            due.append((d, i, rule.id))
                if not due:
                    break
                d, _, rid = min(due)
                st = ch.rules[rid]
                st.next_n += 1
                if self._inhibited(ch, self.by_id[rid]):
                    continue  # skipped, not postponed
                st.emitted += 1
                level = st.emitted if self.level_mode == "emitted" else st.next_n - 1
                out.append((d, chair, rid, "escalated", level))
        return out
