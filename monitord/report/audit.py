"""The alarm audit of a session record: one line per alert episode (an `alert_id` that was
raised), with its time to acknowledge, by whom, when it cleared, and how often it was
re-notified. Episodes still active at session end come first: that is what a reviewer
must see before anything else (issue 18: an unacknowledged `bp.crisis` once hid behind
a page of escalation lines).

Pure: alert events in, `Episode` tuples out; escalations are counted, never listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    cleared_t: float | None  # None: not cleared within the session's data
    escalations: int
    max_level: int | None

    @property
    def active_at_end(self) -> bool:
        return self.cleared_t is None

    @property
    def time_to_ack_s(self) -> float | None:
        return None if self.ack_t is None else self.ack_t - self.raised_t


def episodes(alerts: Sequence[AlertEvent]) -> tuple[Episode, ...]:
    """Episodes from one session's alert events (in time order): active at the end first
    (high before medium before low, then by raise time), then the others by raise time."""
    order: list[str] = []
    raised: dict[str, AlertEvent] = {}
    ack: dict[str, AlertEvent] = {}
    cleared: dict[str, float] = {}
    esc: dict[str, int] = {}
    level: dict[str, int] = {}
    for a in sorted(alerts, key=lambda a: a.t):
        aid = a.alert_id
        if aid is None or a.rule in NOT_ALARMS:
            continue
        if a.event == "raised" and aid not in raised:
            raised[aid] = a
            order.append(aid)
        elif a.event == "acknowledged" and aid not in ack:
            ack[aid] = a
        elif a.event == "cleared":
            cleared.setdefault(aid, a.t)
        elif a.event == "escalated":
            esc[aid] = esc.get(aid, 0) + 1
            if a.level is not None:
                level[aid] = max(level.get(aid, 0), a.level)
    out = []
    for aid in order:
        r = raised[aid]
        k = ack.get(aid)
        out.append(
            Episode(
                aid,
                r.rule,
                r.priority,
                r.kind,
                r.t,
                r.message,
                k.t if k is not None else None,
                k.by if k is not None else None,
                cleared.get(aid),
                esc.get(aid, 0),
                level.get(aid),
            )
        )
    active = sorted(
        (e for e in out if e.active_at_end),
        key=lambda e: (PRIORITY_ORDER.get(e.priority, 9), e.raised_t),
    )
    return (*active, *(e for e in out if not e.active_at_end))
