"""The alert rule table of clinical-rules.md as data.

Every threshold and timing is a parameter with a default taken from clinical-rules.md
(the row is cited next to each rule) and can be overridden per rule in the `[alerts]`
section of the config, e.g.

    [alerts."bp.severe"]
    confirm = 3
    sys_ge = 175

Structure (which rule inhibits which, in which phases a rule applies, kind) is not
overridable: it is the clinical logic itself, reviewed with the medical director.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from monitord.engine.paramtypes import (
    BOOL,
    COUNT,
    DURATION,
    FACTOR,
    INTERVAL,
    NUMBER,
    POSITIVE,
    PRIORITY,
    problem,
)

PRIORITIES = ("high", "medium", "low", "info")
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}

#: Re-notification interval by priority (clinical-rules.md "Escalation": 120 s high,
#: 300 s medium, low never; DESIGN). A rule may override it with `escalate_s` (0 = never).
ESCALATE_S: Mapping[str, float | None] = MappingProxyType(
    {"high": 120.0, "medium": 300.0, "low": None, "info": None}
)

# clinical-rules.md "Valid readings (artifact rejection)": reject the impossible.
BP_SYS_RANGE = (50.0, 260.0)
BP_DIA_RANGE = (20.0, 160.0)
BP_MIN_PULSE_PRESSURE = 10.0
HR_RANGE = (20.0, 250.0)
SPO2_RANGE = (50.0, 100.0)

# clinical-rules.md "Baseline": mean of the last (up to 3) valid baseline BP, at least 2.
BASELINE_MAX_READINGS = 3
BASELINE_MIN_READINGS = 2

# clinical-rules.md "Confirmation": HR/SpO2 samples more than 10 s apart restart a run.
MAX_SAMPLE_GAP_S = 10.0

PROTOCOLS = ("esketamine", "iv-ketamine")

ALL_PHASES = ("idle", "baseline", "dosing", "observation")
DOSE_PHASES = ("dosing", "observation")


@dataclass(frozen=True, slots=True)
class RuleDef:
    """One row of the rule table with its parameters resolved."""

    id: str
    kind: str  # physiological | technical | advisory
    priority: str
    phases: tuple[str, ...]
    params: Mapping[str, Any]
    inhibits: tuple[str, ...] = ()
    latching: bool = False
    escalate_s: float | None = None  # resolved: None = never escalates
    # True when `escalate_s` was not overridden: the interval then follows the priority
    # an alert actually gets (tech.device_lost is high while dosing).
    escalate_by_priority: bool = True
    source: str = ""

    def p(self, name: str) -> Any:
        return self.params[name]


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    kind: str
    priority: str
    phases: tuple[str, ...]
    params: dict[str, tuple[Any, str]]  # name -> (default, type)
    inhibits: tuple[str, ...] = ()
    latching: bool = False
    # (smaller, larger) parameter pairs that must keep hysteresis / ordering.
    order: tuple[tuple[str, str], ...] = ()
    source: str = ""
    overridable_priority: bool = True
    overridable_latching: bool = False


def _bp(confirm: int, clear: int) -> dict[str, tuple[Any, str]]:
    return {"confirm": (confirm, COUNT), "clear": (clear, COUNT)}


def _timed(for_s: float, clear_for_s: float) -> dict[str, tuple[Any, str]]:
    return {"for_s": (for_s, DURATION), "clear_for_s": (clear_for_s, DURATION)}


# The table, in the order of clinical-rules.md "Rules" (the order matters: within one
# priority, rules are evaluated in table order).
_TABLE: tuple[_Row, ...] = (
    _Row(  # clinical-rules.md row `bp.crisis` (Spravato label sec. 5.6; DESIGN thresholds)
        "bp.crisis",
        "physiological",
        "high",
        ALL_PHASES,
        {
            "sys_ge": (200.0, NUMBER),
            "dia_ge": (120.0, NUMBER),
            "clear_sys_lt": (180.0, NUMBER),
            "clear_dia_lt": (110.0, NUMBER),
            **_bp(1, 2),
        },
        inhibits=("bp.severe", "bp.rise"),
        latching=True,
        order=(("clear_sys_lt", "sys_ge"), ("clear_dia_lt", "dia_ge")),
        source="clinical-rules.md Rules: bp.crisis",
        overridable_latching=True,
    ),
    _Row(  # row `bp.severe` (Spravato label Table 6, 180/110)
        "bp.severe",
        "physiological",
        "medium",
        ALL_PHASES,
        {
            "sys_ge": (180.0, NUMBER),
            "dia_ge": (110.0, NUMBER),
            "clear_sys_lt": (170.0, NUMBER),
            "clear_dia_lt": (100.0, NUMBER),
            **_bp(2, 2),
        },
        inhibits=("bp.rise",),
        order=(("clear_sys_lt", "sys_ge"), ("clear_dia_lt", "dia_ge")),
        source="clinical-rules.md Rules: bp.severe",
        overridable_latching=True,
    ),
    _Row(  # row `bp.rise` (Spravato label: >= 40/25 mmHg rise)
        "bp.rise",
        "physiological",
        "low",
        DOSE_PHASES,
        {
            "sys_rise_ge": (40.0, NUMBER),
            "dia_rise_ge": (25.0, NUMBER),
            "clear_sys_rise_lt": (30.0, NUMBER),
            "clear_dia_rise_lt": (18.0, NUMBER),
            **_bp(2, 2),
        },
        order=(("clear_sys_rise_lt", "sys_rise_ge"), ("clear_dia_rise_lt", "dia_rise_ge")),
        source="clinical-rules.md Rules: bp.rise",
        overridable_latching=True,
    ),
    _Row(  # row `bp.baseline_high` (Spravato label: weigh risk if BP > 140/90)
        "bp.baseline_high",
        "advisory",
        "low",
        ("baseline",),
        {"sys_gt": (140.0, NUMBER), "dia_gt": (90.0, NUMBER)},
        source="clinical-rules.md Rules: bp.baseline_high",
    ),
    _Row(  # row `bp.not_declining` (label: monitor until values decline; DESIGN)
        "bp.not_declining",
        "physiological",
        "medium",
        ("observation",),
        {
            "after_dose_s": (7200.0, DURATION),
            "sys_rise_ge": (20.0, NUMBER),
            "sys_ge": (160.0, NUMBER),
            "dia_ge": (100.0, NUMBER),
            **_bp(2, 2),
        },
        source="clinical-rules.md Rules: bp.not_declining",
        overridable_latching=True,
    ),
    _Row(  # row `bp.low` (DESIGN)
        "bp.low",
        "physiological",
        "medium",
        ALL_PHASES,
        {
            "sys_lt": (90.0, NUMBER),
            "map_lt": (65.0, NUMBER),
            "clear_sys_ge": (95.0, NUMBER),
            "clear_map_ge": (70.0, NUMBER),
            **_bp(2, 2),
        },
        order=(("sys_lt", "clear_sys_ge"), ("map_lt", "clear_map_ge")),
        source="clinical-rules.md Rules: bp.low",
        overridable_latching=True,
    ),
    _Row(  # row `bp.very_low` (DESIGN)
        "bp.very_low",
        "physiological",
        "high",
        ALL_PHASES,
        {"sys_lt": (80.0, NUMBER), "clear_sys_ge": (90.0, NUMBER), **_bp(1, 2)},
        inhibits=("bp.low",),
        order=(("sys_lt", "clear_sys_ge"),),
        source="clinical-rules.md Rules: bp.very_low",
        overridable_latching=True,
    ),
    _Row(  # row `hr.high` (clinic protocols: HR > 120 for 5 min)
        "hr.high",
        "physiological",
        "medium",
        ALL_PHASES,
        {"hr_gt": (120.0, NUMBER), "clear_hr_lt": (110.0, NUMBER), **_timed(300, 120)},
        order=(("clear_hr_lt", "hr_gt"),),
        source="clinical-rules.md Rules: hr.high",
        overridable_latching=True,
    ),
    _Row(  # row `hr.very_high` (DESIGN)
        "hr.very_high",
        "physiological",
        "high",
        ALL_PHASES,
        {"hr_gt": (150.0, NUMBER), "clear_hr_lt": (140.0, NUMBER), **_timed(60, 60)},
        inhibits=("hr.high",),
        order=(("clear_hr_lt", "hr_gt"),),
        source="clinical-rules.md Rules: hr.very_high",
        overridable_latching=True,
    ),
    _Row(  # row `hr.low` (DESIGN)
        "hr.low",
        "physiological",
        "medium",
        ALL_PHASES,
        {"hr_lt": (50.0, NUMBER), "clear_hr_gt": (55.0, NUMBER), **_timed(60, 60)},
        order=(("hr_lt", "clear_hr_gt"),),
        source="clinical-rules.md Rules: hr.low",
        overridable_latching=True,
    ),
    _Row(  # row `hr.very_low` (DESIGN)
        "hr.very_low",
        "physiological",
        "high",
        ALL_PHASES,
        {"hr_lt": (40.0, NUMBER), "clear_hr_gt": (45.0, NUMBER), **_timed(30, 30)},
        inhibits=("hr.low",),
        order=(("hr_lt", "clear_hr_gt"),),
        source="clinical-rules.md Rules: hr.very_low",
        overridable_latching=True,
    ),
    _Row(  # row `spo2.low` (15-s delay, Welch 2011)
        "spo2.low",
        "physiological",
        "medium",
        ALL_PHASES,
        {"spo2_lt": (90.0, NUMBER), "clear_spo2_ge": (92.0, NUMBER), **_timed(15, 30)},
        order=(("spo2_lt", "clear_spo2_ge"),),
        source="clinical-rules.md Rules: spo2.low",
        overridable_latching=True,
    ),
    _Row(  # row `spo2.very_low` (DESIGN)
        "spo2.very_low",
        "physiological",
        "high",
        ALL_PHASES,
        {"spo2_lt": (85.0, NUMBER), "clear_spo2_ge": (88.0, NUMBER), **_timed(10, 30)},
        inhibits=("spo2.low",),
        order=(("spo2_lt", "clear_spo2_ge"),),
        source="clinical-rules.md Rules: spo2.very_low",
        overridable_latching=True,
    ),
    _Row(  # row `tech.bp_invalid`
        "tech.bp_invalid",
        "technical",
        "low",
        ALL_PHASES,
        {},
        source="clinical-rules.md Rules: tech.bp_invalid",
    ),
    _Row(  # row `tech.bp_overdue` (DESIGN); NIBP cycle from "Sessions and phases" (600 s)
        "tech.bp_overdue",
        "technical",
        "low",
        DOSE_PHASES,
        {"cycle_s": (600.0, POSITIVE), "grace_s": (180.0, DURATION)},
        source="clinical-rules.md Rules: tech.bp_overdue",
    ),
    _Row(  # row `session.check_missed` (REMS form: BP at ~40 min post-dose)
        "session.check_missed",
        "technical",
        "medium",
        DOSE_PHASES,
        {"window_start_s": (2100.0, DURATION), "window_end_s": (3000.0, DURATION)},
        order=(("window_start_s", "window_end_s"),),
        source="clinical-rules.md Rules: session.check_missed",
    ),
    _Row(  # row `tech.device_lost` (medium, high while dosing)
        "tech.device_lost",
        "technical",
        "medium",
        ALL_PHASES,
        {"after_s": (30.0, DURATION), "priority_dosing": ("high", PRIORITY)},
        source="clinical-rules.md Rules: tech.device_lost",
    ),
    _Row(  # row `tech.sensor_off`
        "tech.sensor_off",
        "technical",
        "low",
        ALL_PHASES,
        {"after_s": (15.0, DURATION)},
        source="clinical-rules.md Rules: tech.sensor_off",
    ),
    _Row(  # row `session.no_baseline`
        "session.no_baseline",
        "advisory",
        "low",
        DOSE_PHASES,
        {},
        source="clinical-rules.md Rules: session.no_baseline",
    ),
    _Row(  # row `session.discharge_ready` and "Precise semantics" (info, never escalates)
        "session.discharge_ready",
        "advisory",
        "info",
        ("observation",),
        {
            "esketamine_observe_s": (7200.0, DURATION),  # after dose_start
            "iv_ketamine_observe_s": (3600.0, DURATION),  # after dose_end
            "sys_le": (140.0, NUMBER),
            "dia_le": (90.0, NUMBER),
            "baseline_factor": (1.1, FACTOR),
            "spo2_ge": (94.0, NUMBER),
            "spo2_window_s": (300.0, POSITIVE),
        },
        source="clinical-rules.md Rules: session.discharge_ready",
        overridable_priority=False,
    ),
)

RULE_IDS: tuple[str, ...] = tuple(r.id for r in _TABLE)
_ROWS: Mapping[str, _Row] = MappingProxyType({r.id: r for r in _TABLE})


def _schema(row: _Row) -> dict[str, tuple[Any, str]]:
    out = dict(row.params)
    if row.overridable_priority:
        out["priority"] = (row.priority, PRIORITY)
    if row.overridable_latching:
        out["latching"] = (row.latching, BOOL)
    if row.id != "session.discharge_ready":
        out["escalate_s"] = (None, INTERVAL)
    return out


def _unknown_rule(rule_id: str, overrides: Any) -> str:
    """Why `rule_id` is no rule. `[alerts.bp.severe]` written without quotes is read by TOML
    as alerts -> bp -> severe: the id the admin meant is then a key of `overrides`, and the
    list of known ids alone (which names it) does not say that the quotes are missing."""
    meant = (
        [f"{rule_id}.{k}" for k in overrides if f"{rule_id}.{k}" in _ROWS]
        if isinstance(overrides, Mapping)
        else []
    )
    if meant:
        quoted = ", ".join(f'[alerts."{m}"]' for m in meant)
        return f"unknown rule id; a rule id has a dot and must be quoted: {quoted}"
    return f"unknown rule id (known: {', '.join(RULE_IDS)})"


def validate_overrides(alerts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems in an `[alerts]` table: (dotted key relative to `[alerts]`, reason)."""
    problems: list[tuple[str, str]] = []
    for rule_id, overrides in alerts.items():
        row = _ROWS.get(rule_id)
        if row is None:
            problems.append((rule_id, _unknown_rule(rule_id, overrides)))
            continue
        if not isinstance(overrides, Mapping):
            problems.append((rule_id, "must be a table of parameter overrides"))
            continue
        schema = _schema(row)
        bad: set[str] = set()
        for name, value in overrides.items():
            if name not in schema:
                problems.append(
                    (f"{rule_id}.{name}", f"unknown parameter (known: {', '.join(schema)})")
                )
                bad.add(name)
            elif (why := problem(value, schema[name][1])) is not None:
                problems.append((f"{rule_id}.{name}", why))
                bad.add(name)
        if "priority" in overrides and "priority" not in bad:
            # An inhibitor is evaluated before the rules it inhibits (clinical-rules.md
            # "Order"); a priority override must not reverse that.
            rank = PRIORITY_RANK[overrides["priority"]]
            for other in _TABLE:
                other_ov = alerts.get(other.id)
                other_pr = (
                    other_ov.get("priority", other.priority)
                    if isinstance(other_ov, Mapping)
                    else other.priority
                )
                if other_pr not in PRIORITY_RANK:
                    continue
                r = PRIORITY_RANK[other_pr]
                if row.id in other.inhibits and rank < r:
                    why = f"must not be above {other.id}'s priority ({other_pr}): {other.id}"
                    problems.append((f"{rule_id}.priority", why + " inhibits it"))
                if other.id in row.inhibits and rank > r:
                    why = f"must not be below {other.id}'s priority ({other_pr}): it inhibits"
                    problems.append((f"{rule_id}.priority", f"{why} {other.id}"))
        # "low never escalates" (clinical-rules.md "Escalation"): escalate_s on a rule that
        # raises only low or info alerts made it escalate all the same.
        pri = {str(overrides.get("priority", row.priority))}
        if "priority_dosing" in row.params:  # tech.device_lost's priority while dosing
            pri.add(str(overrides.get("priority_dosing", row.params["priority_dosing"][0])))
        # (A priority already refused is not judged again: "a info rule never escalates"
        # followed "must be one of high, medium, low" for `priority = "info"`.)
        judged = not bad & {"escalate_s", "priority", "priority_dosing"}
        esc = overrides.get("escalate_s") if judged else None
        if isinstance(esc, int | float) and esc > 0 and not any(ESCALATE_S.get(p, 1) for p in pri):
            why = f"a {'/'.join(sorted(pri))} rule never escalates (clinical-rules.md Escalation)"
            problems.append((f"{rule_id}.escalate_s", why + "; remove it or raise the priority"))
        # Hysteresis: a clear threshold on the wrong side of the raise threshold would let
        # an alert clear while its own condition still holds.
        merged = {k: v[0] for k, v in row.params.items()}
        merged.update({k: v for k, v in overrides.items() if k in row.params and k not in bad})
        for small, large in row.order:
            if small in bad or large in bad:
                continue
            if (small in overrides or large in overrides) and merged[small] > merged[large]:
                key = small if small in overrides else large
                problems.append(
                    (
                        f"{rule_id}.{key}",
                        f"{small} ({merged[small]:g}) must be <= {large} ({merged[large]:g})",
                    )
                )
    return problems


class RuleError(ValueError):
    """Invalid overrides; `problems` as returned by `validate_overrides`."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"alerts.{k}: {r}" for k, r in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The resolved rule table (defaults + overrides), in table order."""

    rules: Mapping[str, RuleDef]
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> RuleSet:
        return cls.from_overrides({})

    @classmethod
    def from_overrides(cls, alerts: Mapping[str, Any]) -> RuleSet:
        problems = validate_overrides(alerts)
        if problems:
            raise RuleError(problems)
        rules: dict[str, RuleDef] = {}
        for row in _TABLE:
            ov = dict(alerts.get(row.id, {}))
            params = {k: v[0] for k, v in row.params.items()}
            for k in row.params:
                if k in ov:
                    # By the parameter's type: a priority is a word (`float` of it stopped
                    # the daemon at start on a config that check-config had passed).
                    typ = row.params[k][1]
                    if typ in (PRIORITY, BOOL):
                        params[k] = ov[k]
                    else:
                        params[k] = int(ov[k]) if typ == COUNT else float(ov[k])
            priority = str(ov.get("priority", row.priority))
            esc = ov.get("escalate_s", None)
            escalate: float | None = ESCALATE_S[priority] if esc is None else float(esc)
            if escalate is not None and escalate <= 0:
                escalate = None
            rules[row.id] = RuleDef(
                id=row.id,
                kind=row.kind,
                priority=priority,
                phases=row.phases,
                params=MappingProxyType(params),
                inhibits=row.inhibits,
                latching=bool(ov.get("latching", row.latching)),
                escalate_s=escalate,
                escalate_by_priority=esc is None,
                source=row.source,
            )
        frozen = {k: dict(v) for k, v in alerts.items()}
        return cls(rules=MappingProxyType(rules), overrides=MappingProxyType(frozen))

    def __getitem__(self, rule_id: str) -> RuleDef:
        return self.rules[rule_id]

    def order(self) -> list[str]:
        """Evaluation order: descending priority, then table order (clinical-rules.md
        "Order"), except that an inhibitor always goes before the rules it inhibits. An
        override may give both the same priority (validate_overrides refuses only a
        reversal); by table order alone the inhibited rule would then come first and
        raise, or emit `pending`, on the very reading that raises its inhibitor."""
        by_rank = sorted(
            RULE_IDS, key=lambda r: (PRIORITY_RANK[self.rules[r].priority], RULE_IDS.index(r))
        )
        inhibitors = self.inhibitors()
        out: list[str] = []
        placed: set[str] = set()

        def place(r: str) -> None:
            # Its inhibitors first (they are never of a lower priority: validated), then it.
            if r in placed:
                return
            placed.add(r)
            for i in sorted(inhibitors[r], key=by_rank.index):
                place(i)
            out.append(r)

        for r in by_rank:
            place(r)
        return out

    def inhibitors(self) -> dict[str, tuple[str, ...]]:
        """rule -> the rules that inhibit it."""
        out: dict[str, list[str]] = {r: [] for r in RULE_IDS}
        for r in RULE_IDS:
            for victim in self.rules[r].inhibits:
                out[victim].append(r)
        return {k: tuple(v) for k, v in out.items()}
