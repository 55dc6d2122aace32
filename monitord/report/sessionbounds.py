"""A session's own events (start, dose_start, dose_end, end) picked from its session
events: the record (record.py) and `--list`'s observation verdict (load.py) both bound a
session by them, so they cannot disagree on which event counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from monitord.models import SessionEvent


class RecordError(ValueError):
    """The session events cannot make a session (no start, mixed sessions)."""


class SessionBounds(NamedTuple):
    """The first of each action; None when the session has none (not dosed, not ended).
    The events, not their times: the record also shows who sent each (`by`)."""

    start: SessionEvent
    dose_start: SessionEvent | None
    dose_end: SessionEvent | None
    end: SessionEvent | None


def session_bounds(sessions: Sequence[SessionEvent]) -> SessionBounds:
    evs = sorted(sessions, key=lambda e: e.t)
    starts = [e for e in evs if e.action == "start"]
    if not starts:
        raise RecordError("no session start among the session events")
    ids = {e.session_id for e in evs}
    if len(ids) != 1:
        raise RecordError(f"session events of several sessions: {', '.join(sorted(ids))}")

    def first(action: str) -> SessionEvent | None:
        return next((e for e in evs if e.action == action), None)

    return SessionBounds(starts[0], first("dose_start"), first("dose_end"), first("end"))
