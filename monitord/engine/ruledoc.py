"""The rule tables of docs/alerts.md, generated from the rule table the engine runs
(monitord/engine/rules.py), so the documentation cannot drift from the code.

    python -m monitord.engine.ruledoc docs/alerts.md   # rewrite the generated parts

The generated parts sit between `<!-- BEGIN name -->` and `<!-- END name -->` markers;
everything else in the file is written by hand. tests/engine/test_docs.py fails when the
file is not what this module would write.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitord.engine.local_alarms import LOCAL_ALARMS
from monitord.engine.rules import ALL_PHASES, RULE_IDS, RuleDef, RuleSet

_P = Mapping[str, Any]


def _g(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float | int) and not isinstance(x, bool) else str(x)


def _s(x: float) -> str:
    return f"{_g(x)} s"


def _readings(n: int) -> str:
    return f"{n} reading{'s' if n != 1 else ''}"


# rule -> (condition, confirmation, clear) in words, from the rule's parameters.
_TEXT: dict[str, Callable[[_P], tuple[str, str, str]]] = {
    "bp.crisis": lambda p: (
        f"sys >= {_g(p['sys_ge'])} or dia >= {_g(p['dia_ge'])}",
        _readings(p["confirm"]),
        f"{p['clear']} readings with sys < {_g(p['clear_sys_lt'])} and dia < "
        f"{_g(p['clear_dia_lt'])}, and ack (latching)",
    ),
    "bp.severe": lambda p: (
        f"sys >= {_g(p['sys_ge'])} or dia >= {_g(p['dia_ge'])}",
        _readings(p["confirm"]),
        f"{p['clear']} readings with sys < {_g(p['clear_sys_lt'])} and dia < "
        f"{_g(p['clear_dia_lt'])}",
    ),
    "bp.rise": lambda p: (
        f"sys - base.sys >= {_g(p['sys_rise_ge'])} or dia - base.dia >= {_g(p['dia_rise_ge'])}"
        " (off without a baseline)",
        _readings(p["confirm"]),
        f"{p['clear']} readings with rises < {_g(p['clear_sys_rise_lt'])} and < "
        f"{_g(p['clear_dia_rise_lt'])}",
    ),
    "bp.baseline_high": lambda p: (
        f"baseline mean sys > {_g(p['sys_gt'])} or dia > {_g(p['dia_gt'])}, at each baseline "
        "reading once 2 exist",
        "at once",
        f"mean sys <= {_g(p['sys_gt'])} and dia <= {_g(p['dia_gt'])}, or `dose_start`",
    ),
    "bp.not_declining": lambda p: (
        f"t >= dose_start + {_s(p['after_dose_s'])} and (sys >= base.sys + "
        f"{_g(p['sys_rise_ge'])} or sys >= {_g(p['sys_ge'])} or dia >= {_g(p['dia_ge'])}); "
        "without a baseline the absolute terms only",
        _readings(p["confirm"]),
        f"{p['clear']} readings not meeting it",
    ),
    "bp.low": lambda p: (
        f"sys < {_g(p['sys_lt'])} or MAP < {_g(p['map_lt'])}",
        _readings(p["confirm"]),
        f"{p['clear']} readings with sys >= {_g(p['clear_sys_ge'])} and (MAP >= "
        f"{_g(p['clear_map_ge'])} if given)",
    ),
    "bp.very_low": lambda p: (
        f"sys < {_g(p['sys_lt'])}",
        _readings(p["confirm"]),
        f"{p['clear']} readings with sys >= {_g(p['clear_sys_ge'])}",
    ),
    "hr.high": lambda p: (
        f"HR > {_g(p['hr_gt'])}",
        f"for {_s(p['for_s'])}",
        f"HR < {_g(p['clear_hr_lt'])} for {_s(p['clear_for_s'])}",
    ),
    "hr.very_high": lambda p: (
        f"HR > {_g(p['hr_gt'])}",
        f"for {_s(p['for_s'])}",
        f"HR < {_g(p['clear_hr_lt'])} for {_s(p['clear_for_s'])}",
    ),
    "hr.low": lambda p: (
        f"HR < {_g(p['hr_lt'])}",
        f"for {_s(p['for_s'])}",
        f"HR > {_g(p['clear_hr_gt'])} for {_s(p['clear_for_s'])}",
    ),
    "hr.very_low": lambda p: (
        f"HR < {_g(p['hr_lt'])}",
        f"for {_s(p['for_s'])}",
        f"HR > {_g(p['clear_hr_gt'])} for {_s(p['clear_for_s'])}",
    ),
    "spo2.low": lambda p: (
        f"SpO2 < {_g(p['spo2_lt'])}",
        f"for {_s(p['for_s'])}",
        f"SpO2 >= {_g(p['clear_spo2_ge'])} for {_s(p['clear_for_s'])}",
    ),
    "spo2.very_low": lambda p: (
        f"SpO2 < {_g(p['spo2_lt'])}",
        f"for {_s(p['for_s'])}",
        f"SpO2 >= {_g(p['clear_spo2_ge'])} for {_s(p['clear_for_s'])}",
    ),
    "tech.bp_invalid": lambda p: (
        "an invalid BP reading (unless already active)",
        "at once",
        "next valid BP reading",
    ),
    "tech.bp_overdue": lambda p: (
        f"no valid BP for {_s(p['cycle_s'])} + {_s(p['grace_s'])}; the clock starts at "
        "`dose_start` and restarts at every valid BP; no re-raise before a valid BP cleared it",
        "timer",
        "next valid BP",
    ),
    "session.check_missed": lambda p: (
        f"esketamine only: no valid BP in the closed window [dose_start + "
        f"{_s(p['window_start_s'])}, dose_start + {_s(p['window_end_s'])}]",
        f"timer at dose_start + {_s(p['window_end_s'])}, once",
        "next valid BP",
    ),
    "tech.device_lost": lambda p: (
        f"a device link down for {_s(p['after_s'])}; one alert per device",
        "timer",
        "link back (non-latching)",
    ),
    "tech.sensor_off": lambda p: (
        f"HR contact lost / SpO2 probe off for {_s(p['after_s'])}; one alert per signal",
        "timer",
        "contact back",
    ),
    "session.no_baseline": lambda p: (
        "`dose_start` without a baseline",
        "at once",
        "`session_end`",
    ),
    "session.discharge_ready": lambda p: (
        f"observation time met (esketamine: dose_start + {_s(p['esketamine_observe_s'])}; "
        f"iv-ketamine: dose_end + {_s(p['iv_ketamine_observe_s'])}); no active physiological "
        f"alert (inhibited and latched count); last 2 valid BP of the session each sys <= "
        f"max({_g(p['sys_le'])}, {_g(p['baseline_factor'])} x base.sys) and dia <= "
        f"max({_g(p['dia_le'])}, {_g(p['baseline_factor'])} x base.dia) "
        f"({_g(p['sys_le'])}/{_g(p['dia_le'])} without a baseline), neither meeting the "
        "`bp.not_declining` terms whatever the time; every valid SpO2 of the last "
        f"{_s(p['spo2_window_s'])} >= {_g(p['spo2_ge'])}",
        "re-checked on every input, when observation time is met and when a low SpO2 "
        "leaves the window; never escalates",
        "condition fails, or `session_end`",
    ),
}


def _phases(r: RuleDef) -> str:
    return "all" if r.phases == ALL_PHASES else ", ".join(r.phases)


def _escalation(r: RuleDef) -> str:
    if r.id == "tech.device_lost":
        return "by the priority given at raise (120 s high, 300 s medium)"
    if r.escalate_s is None:
        return "never"
    return _s(r.escalate_s)


def rules_table(rules: RuleSet | None = None) -> str:
    """One row per rule, in table (evaluation tie-break) order."""
    rs = rules or RuleSet.default()
    inhibitors = rs.inhibitors()
    rows = [
        "| rule | kind, priority | condition | confirm | clear | phases | inhibits | escalation |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rid in RULE_IDS:
        r = rs[rid]
        cond, confirm, clear = _TEXT[rid](r.params)
        pr = r.priority + (" (high while dosing)" if rid == "tech.device_lost" else "")
        pr += ", latching" if r.latching else ""
        inh = ", ".join(f"`{i}`" for i in r.inhibits) or "—"
        if inhibitors[rid]:
            inh += " (inhibited by " + ", ".join(f"`{i}`" for i in inhibitors[rid]) + ")"
        rows.append(
            f"| `{rid}` | {r.kind}, {pr} | {cond} | {confirm} | {clear} | {_phases(r)} | "
            f"{inh} | {_escalation(r)} |"
        )
    return "\n".join(rows)


def parameters_table(rules: RuleSet | None = None) -> str:
    rs = rules or RuleSet.default()
    rows = ["| rule | kind | default priority | parameters (defaults) |", "|---|---|---|---|"]
    for rid in RULE_IDS:
        r = rs[rid]
        params = ", ".join(f"`{k}` = {v!r}" for k, v in r.params.items()) or "—"
        pr = r.priority + (" latching" if r.latching else "")
        rows.append(f"| `{rid}` | {r.kind} | {pr} | {params} |")
    return "\n".join(rows)


def local_table() -> str:
    """The daemon's own delivery alarms (monitord/engine/rules.py LOCAL_ALARMS)."""
    rows = ["| alarm | raised when | cleared when | annunciator |", "|---|---|---|---|"]
    for a in LOCAL_ALARMS:
        rows.append(f"| `{a.key}` | {a.condition} | {a.clear} | {a.annunciator} |")
    return "\n".join(rows)


GENERATED: dict[str, Callable[[], str]] = {
    "rules": rules_table,
    "parameters": parameters_table,
    "local": local_table,
}


def _replace(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.DOTALL)
    if not pat.search(text):
        raise ValueError(f"no <!-- BEGIN {name} --> ... <!-- END {name} --> markers")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def render(text: str) -> str:
    """`text` with every generated part rewritten."""
    for name, make in GENERATED.items():
        text = _replace(text, name, make())
    return text


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/alerts.md")
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
