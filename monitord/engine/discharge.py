"""The session's pure criteria (clinical-rules.md "Rules": session.discharge_ready, the
baseline; "Precise semantics": what `session_end` clears), as functions of plain values.

Shared by the alert engine (monitord/engine/session.py, bp.py) and the session record
(monitord/report/readiness.py), as validity.py is for the artifact check: the report's
answer to the REMS Evaluation Question and the engine's advisory are one predicate, so
they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitord.engine.bp import baseline_mean, not_declining_terms, not_declining_text
from monitord.engine.rules import RuleSet
from monitord.engine.state import TIME_EPS
from monitord.engine.text import duration, mmhg, mmhg_keeping
from monitord.engine.text import num as _n
from monitord.models import AlertEvent

__all__ = [
    "DISCHARGE",
    "SESSION_END_CLEAR",
    "baseline_mean",
    "discharge_criteria",
    "is_session_end_clear",
    "observation_met_t",
    "observation_minimum",
    "session_scoped",
]

DISCHARGE = "session.discharge_ready"
#: The message of every clear `session_end` makes (engine: `SessionRules._end`).
SESSION_END_CLEAR = "Session ended: "


def observation_minimum(p: Mapping[str, Any], protocol: str) -> tuple[str, float]:
    """The protocol's observation minimum: the session event it counts from and its
    length (s), from session.discharge_ready's parameters `p`: esketamine
    (`dose_start`, esketamine_observe_s), iv-ketamine (`dose_end`, iv_ketamine_observe_s)."""
    if protocol == "iv-ketamine":
        return "dose_end", float(p["iv_ketamine_observe_s"])
    return "dose_start", float(p["esketamine_observe_s"])


def observation_met_t(
    p: Mapping[str, Any], protocol: str, dose_start_t: float | None, dose_end_t: float | None
) -> float | None:
    """When the observation time is met: dose_start + esketamine_observe_s, or for
    iv-ketamine dose_end + iv_ketamine_observe_s; None before that event exists."""
    origin, minimum = observation_minimum(p, protocol)
    t = dose_end_t if origin == "dose_end" else dose_start_t
    return None if t is None else t + minimum


def discharge_criteria(
    p: Mapping[str, Any],
    nd: Mapping[str, Any],
    baseline: Sequence[float] | None,
    last_bp: Sequence[Sequence[float]],
    low_spo2_t: float | None,
    phys_active: Sequence[str],
    t: float,
    explain: bool,
) -> tuple[bool, dict[str, Any]]:
    """session.discharge_ready's criteria at `t` apart from the phase and the observation
    time: no active physiological alert (`phys_active`: inhibited and latched ones
    count); the session's last 2 valid BP (`last_bp`, [sys, dia]) each within
    max(sys_le, factor x base.sys) / max(dia_le, factor x base.dia) and neither meeting
    the bp.not_declining terms (`nd`: its parameters); no valid SpO2 below spo2_ge in
    the last spo2_window_s (`low_spo2_t`: the last such sample). `p`: the parameters of
    session.discharge_ready. With `explain`, the words and values (else an empty detail)."""
    no: dict[str, Any] = {}
    if phys_active:
        if not explain:
            return False, no
        text = "active alert " + ", ".join(phys_active)
        return False, {"text": text, "alerts": list(phys_active)}
    base = list(baseline) if baseline is not None else None
    if base is not None:
        smax = max(p["sys_le"], p["baseline_factor"] * base[0])
        dmax = max(p["dia_le"], p["baseline_factor"] * base[1])
    else:
        smax, dmax = p["sys_le"], p["dia_le"]
    bps = list(last_bp)[-2:]
    if len(bps) < 2:
        if not explain:
            return False, no
        return False, {"text": f"needs 2 valid BP <= {mmhg(smax)}/{mmhg(dmax)}"}
    high = not all(b[0] <= smax and b[1] <= dmax for b in bps)
    # Neither may meet the bp.not_declining terms, whatever the time: a pressure that
    # would be "not declining" at 120 min is not one to go home with before it.
    not_declining = any(not_declining_terms(nd, base, b[0], b[1]) for b in bps)
    # A sample spo2_window_s old has left the window, also when the float difference
    # falls a hair short (4096.007 - 3796.007 = 299.99999999999955; state.TIME_EPS).
    low_spo2 = low_spo2_t is not None and t - low_spo2_t < p["spo2_window_s"] - TIME_EPS
    if not explain:
        return not (high or not_declining or low_spo2), no
    # Whole mmHg unless a reading's place against the limit would read false: 1.1 x a
    # baseline mean of 139.67 is 153.63, which a BP of 154 is above, not "154 above 154".
    limit = (
        mmhg_keeping(smax, lambda v: all((b[0] <= v) == (b[0] <= smax) for b in bps))
        + "/"
        + mmhg_keeping(dmax, lambda v: all((b[1] <= v) == (b[1] <= dmax) for b in bps))
    )
    last = ", ".join(f"{_n(b[0])}/{_n(b[1])}" for b in bps)
    if high:
        return False, {"text": f"last BP {last} above {limit}"}
    if not_declining:
        return False, {
            "text": f"last BP {last}: {not_declining_text(nd, base, [b[0] for b in bps])}"
        }
    if low_spo2:
        return False, {
            "text": f"SpO2 < {_n(p['spo2_ge'])}% in the last {duration(p['spo2_window_s'])}"
        }
    return True, {
        "text": f"BP {last} <= {limit}",
        "bp": [{"sys_mmHg": b[0], "dia_mmHg": b[1]} for b in bps],
    }


def session_scoped(rules: RuleSet) -> tuple[str, ...]:
    """The rules a session owns, in evaluation order: those that apply in no idle phase.
    `session_end` clears them, inhibited or not (clinical-rules.md "Precise semantics")."""
    return tuple(r for r in rules.order() if "idle" not in rules[r].phases)


def is_session_end_clear(a: AlertEvent, end_t: float, scoped: Sequence[str]) -> bool:
    """Is `a` the administrative clear `session_end` made (not a clinical one): a
    `cleared` of a session-scoped rule, at the session_end's own time, with the engine's
    session-end message. A BP at that same instant that clears bp.overdue on its merit
    carries the reading's words, so it stays a clear. 1 ms of slack: stores and InfluxDB
    keep times in ns, which an epoch float does not round-trip exactly."""
    return (
        a.event == "cleared"
        and a.rule in scoped
        and abs(a.t - end_t) < 1e-3
        and a.message.startswith(SESSION_END_CLEAR)
    )
