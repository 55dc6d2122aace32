"""Numbers and durations as a nurse reads them in alert messages (clinical-rules.md: "words a
nurse reads at a glance"): whole mmHg for baselines and differences, minutes for durations
over 90 s. Values in `value` keep full precision; only the text is rounded."""

from __future__ import annotations

import math
from collections.abc import Callable

#: Durations longer than this are said in minutes.
MINUTES_OVER_S = 90.0


def _half_up(x: float) -> int:
    # Not round(): banker's rounding would show a 124.5 baseline as 124 and 125.5 as 126.
    return math.floor(x + 0.5)


def num(x: float | None) -> str:
    """A measured or configured number as it is: 120, 36.5 ('-' when absent)."""
    return "-" if x is None else f"{x:g}"


def mmhg(x: float) -> str:
    """A pressure in whole mmHg (a baseline mean of 78.667 reads 79)."""
    return str(_half_up(x))


def mmhg_keeping(x: float, holds: Callable[[float], bool]) -> str:
    """`x` in whole mmHg when that number keeps the comparison the message states about it
    (`holds`), else with the fewest decimals that do. A mean of 3 readings is a third off
    a whole mmHg: one of 140.33 that raised "> 140" read "140 > 140", a nurse seeing a
    comparison that is false. A decimal is shown only where the whole number would lie."""
    whole = _half_up(x)
    if holds(whole):
        return str(whole)
    for digits in (1, 2, 3):
        shown = round(x, digits)
        if holds(shown):
            return f"{shown:.{digits}f}"
    return num(x)


def duration(seconds: float) -> str:
    """`15 s`, `90 s`, `5 min`, `13 min`; fractions of a minute only when they matter
    (`2.5 min`)."""
    if seconds <= MINUTES_OVER_S:
        return f"{_half_up(seconds)} s"
    minutes = round(seconds / 60.0, 1)
    return f"{minutes:g} min"


def readings(n: int) -> str:
    return f"{n} reading{'s' if n != 1 else ''}"
