"""Stretches of a session whose times are off UTC: a wall-clock step the chair clock did
not follow (docs/reliability.md "Timestamps on a Pi without RTC").

A real chair's clock only moves forward and keeps its offset from the wall clock while an
alarm timer is pending (monitord/clock.py), so a Pi without RTC that boots with an old
time and gets NTP mid-session stores the whole session's times off UTC by the boot error.
The chair keeps each such stretch with its clock row (`clock/<chair>` in the store's
`state`, `WallClock.offsets`: chair time from, to, wall minus chair seconds), from the
run's start or the step seen before, not from the step: the times before it were as far
off (the dose of a session opened before NTP answered); the report says how far its
printed times are off, and for which of them, in a line of the form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitord.clock import STEP_S, offsets_of
from monitord.report.gaps import m_s_text


@dataclass(frozen=True, slots=True)
class ClockOff:
    """From `start_t` to `end_t` (chair time, as the record's times; None: to the end of
    the record) the wall clock was `off_s` seconds ahead of the chair's times (behind
    when negative). `began_t`: the stretch's own start when it began before the session
    (a session opened after a boot behind), which `start_t` then is."""

    start_t: float
    end_t: float | None
    off_s: float
    began_t: float | None = None


def session_offsets(
    stretches: Sequence[Sequence[float | None]], lo: float, hi: float | None
) -> tuple[ClockOff, ...]:
    """The stretches (`WallClock.offsets`) within [lo, hi] (hi None: open), cut to it."""
    out = []
    for fr, to, off in stretches:
        if fr is None or off is None or abs(off) <= STEP_S:
            continue
        if (hi is not None and fr > hi) or (to is not None and to < lo):
            continue
        end = to if hi is None else hi if to is None else min(to, hi)
        out.append(ClockOff(max(fr, lo), end, off, fr if fr < lo else None))
    return tuple(out)


def stored_offsets(ob: Any, chair: str, lo: float, hi: float | None) -> tuple[ClockOff, ...]:
    """The stretches of a chair's session from the store's clock row (`ob`: an Outbox)."""
    row = ob.get_state(f"clock/{chair}")
    # Parsed as the next start would (bad entries dropped): one reading of the row.
    return session_offsets(offsets_of(row), lo, hi)


def offset_span(s: float) -> str:
    """An offset in words, to the second also from an hour on ("3 h 00 min 20 s"; whole
    minutes without the seconds): it is what the reader adds to every printed time, so
    not a hole's length (gaps.span_text, rounded up to the minute from an hour on, read
    "add 3 h 01 min" for a step of 3 h 00 min 20 s: every corrected time 40 s late)."""
    whole = round(s)
    if whole < 3600:
        return m_s_text(whole)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    return f"{h} h {m:02d} min" + (f" {sec:02d} s" if sec else "")


def offset_text(offs: Sequence[ClockOff], fmt_t: Callable[[float], str]) -> str | None:
    """The stretches in one phrase for the form, or None when the times are on UTC."""
    parts = []
    for o in offs:
        d = offset_span(abs(o.off_s))
        until = fmt_t(o.end_t) if o.end_t is not None else "the end of this record"
        if o.off_s > 0:
            # Before the step as after it until monitord's clock followed (or not yet).
            why = (
                "the system clock was behind until it was stepped; monitord's clock had "
                "not followed"
            )
            fix = f"add {d} to them for UTC"
        else:
            why = "the system clock was ahead until it was set back; monitord's times never go back"
            fix = f"subtract {d} from them for UTC"
        side = "behind" if o.off_s > 0 else "ahead of"
        start = fmt_t(o.start_t)
        if o.began_t is not None:
            # Off before the session opened: its start and the times before it too.
            start += f" (this session's start: off since {fmt_t(o.began_t)}, before it)"
        parts.append(
            f"the times printed from {start} to {until} are {d} {side} the "
            f"system clock ({why}): {fix}"
        )
    return "; ".join(parts) if parts else None
