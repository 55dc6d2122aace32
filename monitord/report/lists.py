"""The report's lists, shared by the PDF and HTML renderers: the alarm audit's rows, the
gaps in monitoring, the stored records pushed from a device's memory, and the event list.
Formatting only, as monitord/report/text.py (the form's words and the time formats).
"""

from __future__ import annotations

from monitord.report.audit import Episode
from monitord.report.gaps import UNKNOWN, span_text
from monitord.report.record import SessionRecord
from monitord.report.text import fmt_dur, fmt_rel, fmt_t

# Priorities a nurse is expected to acknowledge (they escalate until then); a low or info
# alert that was never acknowledged is no finding.
ACK_EXPECTED = ("high", "medium")


def audit_title(rec: SessionRecord) -> str:
    """The audit's heading: episodes, those still active at the end, escalations."""
    eps = rec.episodes
    active = sum(1 for e in eps if e.active_at_end)
    # A session not ended has no session end to be active at: its data ends.
    end = "session end" if rec.ended else "the end of the data (session not ended)"
    return (
        f"Alarm audit ({len(eps)} episodes, {active} still active at {end}, "
        f"{sum(e.escalations for e in eps)} escalations counted)"
    )


def audit_header() -> tuple[str, ...]:
    return ("raised", "rule", "priority", "to ack", "ack by", "cleared", "escal.", "message")


def audit_row(rec: SessionRecord, e: Episode) -> tuple[str, ...]:
    cleared = fmt_t(rec, e.cleared_t) if e.cleared_t is not None else "ACTIVE AT END"
    esc = str(e.escalations) + (f" (lvl {e.max_level})" if e.max_level else "")
    raised = fmt_t(rec, e.raised_t)
    if not e.raise_known:
        raised = "before " + raised
    if e.before_session:
        raised += " (before session)"
    return (
        raised,
        e.rule,
        e.priority,
        fmt_dur(e.time_to_ack_s)
        if e.ack_t is not None
        else ("NOT ACKED" if e.priority in ACK_EXPECTED else "-"),
        e.ack_by or "-",
        cleared,
        esc,
        e.message,
    )


def gap_lines(rec: SessionRecord) -> list[str]:
    out = []
    for g in rec.gaps:
        if g.what == "daemon_down" and g.start is not None and g.end is not None:
            # In words a clinical lead reads without the legend: from, to, how long.
            how = g.detail.split(": no monitoring")[0]
            if UNKNOWN in g.detail:
                out.append(
                    f"{how}: no monitoring from {fmt_t(rec, g.start)} {UNKNOWN}, no alarms "
                    "(daemon_down)"
                )
                continue
            out.append(
                f"{how}: no monitoring from {fmt_t(rec, g.start)} to {fmt_t(rec, g.end)} "
                f"({span_text(g.end - g.start)}), no alarms (daemon_down)"
            )
            continue
        if g.what == "no_spo2" and g.start is not None and g.end is not None:
            if len(g.stretches) > 1:
                # Several stretches in one line (SpO2 in bursts): the time missing first,
                # where a single line has it; the span after it, as SpO2 came in between
                # (the span first read as the missing time: 6 h 51 min for 5 h 31 min).
                missing = sum(b - a for a, b in g.stretches)
                out.append(
                    f"no valid SpO2 for {span_text(missing)} in {len(g.stretches)} stretches "
                    f"between {fmt_t(rec, g.start)} and {fmt_t(rec, g.end)} (a span of "
                    f"{span_text(g.end - g.start)}), {g.detail} (no_spo2)"
                )
                continue
            out.append(
                f"no valid SpO2 from {fmt_t(rec, g.start)} to {fmt_t(rec, g.end)} "
                f"({span_text(g.end - g.start)}): {g.detail} (no_spo2)"
            )
            continue
        if g.start is None:
            span = ""
        elif g.end == g.start:
            span = f"{fmt_t(rec, g.start)} "
        else:
            if g.end is not None:
                end = fmt_t(rec, g.end)
            else:
                end = "still open at session end" if rec.ended else "open at end of data"
            span = f"{fmt_t(rec, g.start)}-{end} "
        out.append(f"{span}{g.what}: {g.detail}")
    return out


def gaps_title(rec: SessionRecord, lines: int) -> str:
    """The gaps list's heading over its `lines` printed lines: how many gaps, and when a
    no_spo2 line stands for several stretches, how many lines and what they merge (the
    count of lines alone read "Gaps (3)" over 43 gaps, 43 rows in the events CSV)."""
    head = "Gaps and missing data"
    if not lines:
        return f"{head} (none)"
    merged = [len(g.stretches) for g in rec.gaps if len(g.stretches) > 1]
    if not merged:
        return f"{head} ({lines})"
    total = lines - len(merged) + sum(merged)
    n = len(merged)
    if n == lines:
        # Every line a merged one: "(41 gaps in 1 line; 41 stretches without valid SpO2
        # in 1 line)" said the same count twice, as if 82.
        return f"{head} ({total} stretches without valid SpO2 in {n} line{'s' * (n > 1)})"
    return (
        f"{head} ({total} gaps in {lines} line{'s' * (lines > 1)}; {sum(merged)} stretches "
        f"without valid SpO2 in {n} line{'s' * (n > 1)})"
    )


def stored_lines(rec: SessionRecord) -> list[str]:
    """One line per stored record: where the record places it, device, values, the
    device's time. Local, as every time on the page (a UTC "Z" time here read as hours
    off the others); fmt_t adds the date or zone when they differ from the treatment's."""
    out = []
    for v in rec.stored:
        vals = " ".join(f"{k}={x:g}" for k, x in v.values.items() if x is not None)
        dev_t = fmt_t(rec, v.device_time) if v.device_time is not None else "unknown"
        out.append(
            f"{fmt_t(rec, v.t)} {v.kind}/{v.device} {vals or 'no values'} "
            f"(device time {dev_t}{'' if v.valid else '; invalid: ' + str(v.reason)})"
        )
    return out


def event_line(rec: SessionRecord, i: int) -> str:
    a = rec.alerts[i]
    extra = f" level {a.level}" if a.level is not None else ""
    if a.by is not None:
        extra += f" by {a.by}"
    return (
        f"{fmt_t(rec, a.t)} ({fmt_rel(rec, a.t)}) {a.rule} {a.event}{extra} "
        f"[{a.priority}]: {a.message}"
    )
