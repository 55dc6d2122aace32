"""The types of the rule parameters a clinic may override in `[alerts]` (monitord/engine/
rules.py's table names one per parameter), and why a value is not of its type: the reason
`check-config` shows, one line naming the key (docs/alerts.md "Overrides")."""

from __future__ import annotations

import sys
from typing import Any

COUNT = "count"  # integer >= 1
NUMBER = "number"  # any real number (a threshold)
DURATION = "duration"  # real number >= 0, seconds
POSITIVE = "positive"  # real number > 0, seconds
FACTOR = "factor"  # real number > 0
INTERVAL = "interval"  # 0 (never) or seconds >= MIN_INTERVAL_S: `escalate_s`
BOOL = "bool"
PRIORITY = "priority"

# The shortest re-notification interval taken. Not a clinical bound (clinical-rules.md
# sets the defaults, 120 s and 300 s): the engine's own. An `escalate_s` of 1e-6 passed
# check-config and escalated every microsecond: a real daemon stored and published
# thousands of events a second, stopped answering SIGINT and was killed for its memory
# (21 GB), every chair unmonitored.
MIN_INTERVAL_S = 1.0

REASONS = {
    COUNT: "must be an integer >= 1",
    NUMBER: "must be a number",
    DURATION: "must be a number of seconds >= 0",
    POSITIVE: "must be a number of seconds > 0",
    FACTOR: "must be a number > 0",
    INTERVAL: f"must be 0 (never) or a number of seconds >= {MIN_INTERVAL_S:g}",
    BOOL: "must be true or false",
    PRIORITY: "must be one of high, medium, low",
}


def problem(value: Any, typ: str) -> str | None:
    """Why `value` is no `typ` (the reason shown to the operator), or None."""
    if typ == BOOL:
        ok = isinstance(value, bool)
    elif typ == PRIORITY:
        ok = value in ("high", "medium", "low")
    elif typ == COUNT:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        ok = False  # not a number, or NaN
    elif abs(value) > sys.float_info.max:  # infinite, or an integer beyond a float: TOML's
        # are unbounded, and float() of 10**400 stopped the daemon's start (check-config: ok)
        if typ == NUMBER:
            return "must be a number between -1.8e308 and 1.8e308"
        return f"{REASONS[typ]} and at most 1.8e308" if isinstance(value, int) else REASONS[typ]
    elif typ == DURATION:
        ok = value >= 0
    elif typ == INTERVAL:
        ok = value == 0 or value >= MIN_INTERVAL_S
    else:
        ok = value > 0 if typ in (POSITIVE, FACTOR) else True
    return None if ok else REASONS[typ]
