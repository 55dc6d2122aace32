"""Session records from the local store (the outbox keeps readings, alert and session
events for `storage.retention_days`, see monitord/outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitord.engine.rules import RuleSet
from monitord.models import MAX_DEVICE_SKEW_S, SessionEvent, utc
from monitord.outbox import Outbox
from monitord.report.clockoff import stored_offsets
from monitord.report.gaps import outage_gaps
from monitord.report.observation import Observation, judge_observation
from monitord.report.record import SessionRecord, build_record, placed_t
from monitord.report.sessionbounds import session_bounds
from monitord.store.outages import Outage, outages
from monitord.store.retention import PRUNED_KEY

# How far before a session's start the record looks for the alarms still active at it
# (a monitor missing at boot, a BP alarm from readings before the session): a week of
# that chair's alert events. An episode raised earlier and active all along is still
# seen through its events in the session (escalations, ack, clear: audit.py).
CARRY_LOOKBACK_S = 7 * 86400.0


class NoSuchSession(LookupError):
    """Nothing in the store matches; the message says what was looked for."""


@dataclass(frozen=True, slots=True)
class SessionSpan:
    session_id: str
    chair: str
    events: tuple[SessionEvent, ...]
    start_t: float
    end_t: float | None
    next_start_t: float | None  # the chair's next session start (bounds an open session)


def session_spans(ob: Outbox, chair: str | None = None) -> list[SessionSpan]:
    """Every session in the store (that has its `start`), in start order."""
    return spans_from_events(ob.session_events(chair))


def spans_from_events(evs: Sequence[SessionEvent]) -> list[SessionSpan]:
    """Session events (any source: the store, InfluxDB) grouped into spans, in start
    order; a session whose start is missing is left out (it cannot make a record).

    A session is a chair's `start` and what follows it under the same id up to that
    chair's next start of it: the id is the station's (cmd/session, optional, never
    required unique), so one reused later or on another chair is another session."""
    runs: dict[tuple[str, str], list[list[SessionEvent]]] = {}
    for e in sorted(evs, key=lambda e: e.t):  # stable: same-time events keep their order
        chair_runs = runs.setdefault((e.chair, e.session_id), [])
        if e.action == "start":
            chair_runs.append([e])
        elif chair_runs:
            chair_runs[-1].append(e)
        # else: before any start of its id (the start was pruned from the store)
    spans: list[SessionSpan] = []
    for (chair, sid), rs in runs.items():
        for es in rs:
            end = next((e.t for e in es if e.action == "end"), None)
            spans.append(SessionSpan(sid, chair, tuple(es), es[0].t, end, None))
    spans.sort(key=lambda s: (s.chair, s.start_t))
    out: list[SessionSpan] = []
    for i, s in enumerate(spans):
        nxt = spans[i + 1] if i + 1 < len(spans) and spans[i + 1].chair == s.chair else None
        out.append(
            SessionSpan(
                s.session_id,
                s.chair,
                s.events,
                s.start_t,
                s.end_t,
                nxt.start_t if nxt is not None else None,
            )
        )
    out.sort(key=lambda s: (s.start_t, s.chair))
    return out


def record_for(
    ob: Outbox, span: SessionSpan, tz: str = "UTC", rules: RuleSet | None = None
) -> SessionRecord:
    """The record of one session of the store; `rules`: the rule table with the clinic's
    `[alerts]` overrides, when the report has its config."""
    lo, hi = span.start_t, span.end_t if span.end_t is not None else span.next_start_t
    # The history index is by measured time, a live reading is placed by its receive
    # time (record.py), at most MAX_DEVICE_SKEW_S apart: look that far around. History
    # queries are half-open [since, until): one ms past the end takes in what is stamped
    # exactly at session_end.
    skew = timedelta(seconds=MAX_DEVICE_SKEW_S)
    until = utc(hi) + timedelta(milliseconds=1) if hi is not None else None
    readings = [
        r for r, _ in ob.readings(span.chair, utc(lo) - skew, until + skew if until else None)
    ]
    # Alarms raised before the session and still active at its start belong to it: their
    # events of a bounded look-back (indexed by chair and time; the alert and session
    # rows only), never the whole history of a store kept for months.
    alerts = ob.alert_events(span.chair, utc(lo - CARRY_LOOKBACK_S), until)
    # And those raised before that week, active all along: a low alarm (never escalated)
    # had no event in it, and was in no line of the record (audit, gaps, evidence).
    alerts = [*ob.alert_events_active_at(span.chair, utc(lo - CARRY_LOOKBACK_S)), *alerts]
    if span.end_t is None and span.next_start_t is not None:
        # Not ended but a later session began: never let that session's data in.
        readings = [r for r in readings if placed_t(r) < span.next_start_t]
        alerts = [a for a in alerts if a.t < span.next_start_t]
    rec = build_record(readings, alerts, span.events, tz, rules, span_outages(ob, span))
    # Times off UTC (a wall-clock step not followed): the chair's clock row keeps them.
    return replace(
        rec, clock_offs=stored_offsets(ob, span.chair, lo, hi), pruned_to_t=pruned_to(ob, span)
    )


def pruned_to(ob: Outbox, span: SessionSpan) -> float | None:
    """The newest measured time (epoch s) of this chair's rows the store deleted before
    their retention (its disk budget, `storage.max_mb`), when the session's readings
    reach back to it: the record may lack some of them (docs/report.md)."""
    t_ns = ob.get_state(PRUNED_KEY + span.chair)
    if not isinstance(t_ns, int) or t_ns / 1e9 < span.start_t - MAX_DEVICE_SKEW_S:
        return None
    return float(t_ns / 1e9)


def span_outages(ob: Outbox, span: SessionSpan) -> list[Outage]:
    """When monitord itself was not running up to the session's end (or the chair's next
    start): local only, the store keeps them, InfluxDB not."""
    hi = span.end_t if span.end_t is not None else span.next_start_t
    return [o for o in outages(ob, span.chair) if hi is None or o.start < hi]


def span_observation(
    span: SessionSpan, rules: RuleSet | None = None, down: Sequence[Outage] = ()
) -> Observation:
    """The record's verdict on the protocol's minimum observation (its `observation`)
    from the session events and monitord's outages alone: it needs no readings, so
    `--list` can flag every session of a store kept for months without building each
    record. Same inputs, same function as build_record: the verdicts cannot disagree (it
    rests on the session events and the outages alone). Its counts can: the device and
    SpO2 gaps inside the window (the met line's) need the alarms and vitals, so they are 0
    here; use the verdict only."""
    start, ds, de, end = session_bounds(span.events)
    end_t = end.t if end is not None else None
    return judge_observation(
        rules if rules is not None else RuleSet.default(),
        start.protocol,
        ds.t if ds is not None else None,
        de.t if de is not None else None,
        end_t,
        outage_gaps(down, start.t, end_t),
    )


def find_spans(
    spans: Sequence[SessionSpan],
    session_id: str | None = None,
    chair: str | None = None,
    day: date | None = None,
    tz: str = "UTC",
    within: str = "in the store",
) -> list[SessionSpan]:
    """Spans by session id, chair (None: every chair) and the local day (in `tz`, the
    site's zone) the session started; each given narrows the others. With an id, the
    chair and the day pick among the sessions of an id the station reused: they were
    ignored, and `--session ID --chair chair-2` reported chair-1's session."""
    lo = hi = 0.0
    if day is not None:
        zone = ZoneInfo(tz)
        # Local midnight to local midnight: 23 or 25 hours on a daylight-saving change.
        lo = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        nxt = day + timedelta(days=1)
        hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()
    hit = [
        s
        for s in spans
        if (session_id is None or s.session_id == session_id)
        and (chair is None or s.chair == chair)
        and (day is None or lo <= s.start_t < hi)
    ]
    if not hit:
        what = "session" if session_id is None else f"session {session_id!r}"
        where = f" on chair {chair!r}" if chair is not None else ""
        if day is not None:
            where = (where or " on any chair") + f" started on {day.isoformat()} ({tz})"
        raise NoSuchSession(f"no {what}{where}" + ("" if where else f" {within}"))
    return hit
