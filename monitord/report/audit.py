"""The alarm audit of a session record: one line per alert episode (an `alert_id` that was
raised), with its time to acknowledge, by whom, when it cleared, and how often it was
re-notified. Episodes still active at session end come first: that is what a reviewer
must see before anything else (issue 18: an unacknowledged `bp.crisis` once hid behind
a page of escalation lines).

Pure: alert events in, `Episode` tuples out; escalations are counted, never listed.

`session_end` clears the session's own alerts administratively (clinical-rules.md "Precise
semantics"): that clear ends no alarm, so such an episode is active at the end. An
episode raised before the session and still active at its start belongs to it, with its
real raise time (`before_session`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitord.engine.discharge import is_session_end_clear
from monitord.models import AlertEvent

# `session.discharge_ready` (info) is not an alarm: the record shows it as "time the
# patient could have left", not in the audit.
NOT_ALARMS = ("session.discharge_ready",)
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


@dataclass(frozen=True, slots=True)
class Episode:
    alert_id: str
    rule: str
    priority: str
    kind: str
    raised_t: float
    message: str  # the raise message (values that raised it)
    ack_t: float | None
    ack_by: str | None
    # None: not cleared within the session's data, or cleared only by session_end.
    cleared_t: float | None
    escalations: int
    max_level: int | None
    before_session: bool = False  # raised before session_start, still active at it
    # False: its raise is not in the data read (before the look-back, load.py); then
    # `raised_t` is the first of its events there and `message` says so.
    raise_known: bool = True
    ended_by_session_end: bool = False  # session_end cleared it administratively

    @property
    def active_at_end(self) -> bool:
        return self.cleared_t is None

    @property
    def time_to_ack_s(self) -> float | None:
        return None if self.ack_t is None else self.ack_t - self.raised_t


def carried_in(before: Sequence[AlertEvent]) -> list[AlertEvent]:
    """Of the alert events before a session's start, those of the episodes still active
    at it: an alert_id whose last event there is not `cleared`."""
    last: dict[str, AlertEvent] = {}
    for a in sorted(before, key=lambda a: a.t):
        if a.alert_id is not None:
            last[a.alert_id] = a
    keep = {aid for aid, a in last.items() if a.event != "cleared"}
    return [a for a in before if a.alert_id in keep]


def episodes(
    alerts: Sequence[AlertEvent],
    start_t: float | None = None,
    end_t: float | None = None,
    session_rules: Sequence[str] = (),
) -> tuple[Episode, ...]:
    """Episodes from one session's alert events (in time order; events before `start_t`
    only of the episodes active at it, `carried_in`): active at the end first (high
    before medium before low, then by raise time), then the others by raise time. A
    clear of one of `session_rules` by the session_end at `end_t` is no clear."""
    order: list[str] = []
    raised: dict[str, AlertEvent] = {}
    ack: dict[str, AlertEvent] = {}
    cleared: dict[str, float] = {}
    by_end: set[str] = set()
    esc: dict[str, int] = {}
    level: dict[str, int] = {}
    for a in sorted(alerts, key=lambda a: a.t):
        aid = a.alert_id
        if aid is None or a.rule in NOT_ALARMS:
            continue
        if aid not in raised and (a.event == "raised" or start_t is not None):
            # An episode whose raise is older than the data read is still one, known
            # by its first event there (an escalation, an ack, its clear).
            raised[aid] = a
            order.append(aid)
        if a.event == "acknowledged" and aid not in ack:
            ack[aid] = a
        elif a.event == "cleared":
            if end_t is not None and is_session_end_clear(a, end_t, session_rules):
                by_end.add(aid)
            else:
                cleared.setdefault(aid, a.t)
        elif a.event == "escalated":
            esc[aid] = esc.get(aid, 0) + 1
            if a.level is not None:
                level[aid] = max(level.get(aid, 0), a.level)
    out = []
    for aid in order:
        r = raised[aid]
        k = ack.get(aid)
        known = r.event == "raised"
        out.append(
            Episode(
                aid,
                r.rule,
                r.priority,
                r.kind,
                r.t if known else min(r.t, start_t if start_t is not None else r.t),
                r.message if known else f"raised before the data read ({r.event}: {r.message})",
                k.t if k is not None else None,
                k.by if k is not None else None,
                cleared.get(aid),
                esc.get(aid, 0),
                level.get(aid),
                before_session=start_t is not None and (r.t < start_t or not known),
                ended_by_session_end=aid in by_end and aid not in cleared,
                raise_known=known,
            )
        )
    active = sorted(
        (e for e in out if e.active_at_end),
        key=lambda e: (PRIORITY_ORDER.get(e.priority, 9), e.raised_t),
    )
    return (*active, *(e for e in out if not e.active_at_end))
