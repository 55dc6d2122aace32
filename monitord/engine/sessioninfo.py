"""A chair's session as the nurses' station shows it (the `session` of `alerts/active`).

Times are the chair's clock (epoch seconds -> ISO 8601 UTC), like the alert events, so a
simulated chair at 60x shows its own minutes; the station computes "minutes since dose
start" against the chair's clock, never against the browser's."""

from __future__ import annotations

from typing import Any

from monitord.engine.discharge import observation_met_t
from monitord.engine.rules import RuleSet
from monitord.engine.state import ChairState, TimerKey, TimerKind
from monitord.models import iso

_OVERDUE = TimerKey(TimerKind.BP_OVERDUE)


def session_info(ch: ChairState | None, rules: RuleSet) -> dict[str, Any]:
    """Phase, protocol, session times, when observation is met and the next BP is due."""
    if ch is None or ch.session is None:
        return {"phase": "idle" if ch is None else ch.phase}
    s = ch.session
    dp = rules["session.discharge_ready"].params
    met = observation_met_t(dp, s.protocol, s.dose_start_t, s.dose_end_t)
    op = rules["tech.bp_overdue"].params
    overdue = ch.timers.get(_OVERDUE)
    # Re-armed by every valid BP without a new active set: the station moves it on from
    # the last BP it sees (`bp_cycle_s` after it).
    bp_due = overdue[0] - op["grace_s"] if overdue is not None else None
    return {
        "phase": ch.phase,
        "protocol": s.protocol,
        "session_id": s.session_id,
        "started": iso(s.started_t),
        "dose_start": None if s.dose_start_t is None else iso(s.dose_start_t),
        "dose_end": None if s.dose_end_t is None else iso(s.dose_end_t),
        "observation_met": _date(met),
        "bp_due": _date(bp_due),
        "bp_cycle_s": op["cycle_s"],
    }


def _date(t: float | None) -> str | None:
    """`t` in ISO 8601, or None when it is none or has no date: an `[alerts]` duration may
    put it past the year 9999 (`esketamine_observe_s = 1e12`, passed by check-config), and
    its ValueError crashed the chair's task at every `dose_start`, its alarms unraised."""
    try:
        return None if t is None else iso(t)
    except (ValueError, OverflowError):
        return None
