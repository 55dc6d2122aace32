"""The words and numbers of a session record, shared by every renderer (PDF, HTML, CSV):
local times in the site's zone ([site] timezone), the form's fields with their values or
why they are missing, the alarm audit lines. Formatting only; nothing is computed that
the record does not hold.

Stored data stays UTC; the report shows local time with the zone's abbreviation (EDT,
CET, ...), and the CSVs carry both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitord.report.clockoff import offset_text
from monitord.report.gaps import outage_count, span_text, unknown_outages
from monitord.report.observation import clock_text
from monitord.report.record import (
    BpReading,
    RemsField,
    SessionRecord,
    duration_text,
)
from monitord.report.summary import SPO2_HOLD_MAX_S, Evidence

PATIENT_REF_LABEL = "Patient reference (clinic, by hand)"
STORED_NOTE = "pushed from the device's memory on connect: history, fed to no alarm"


def shown_s(t: float) -> float:
    """The whole second a time is shown at: rounded up, never before the fact (the 1e-6
    absorbs the float error of an epoch time: a whole second stays as it is). Truncated,
    an advisory raised at 11:05:00.4 read "raised at 11:05:00", before it was, beside
    criteria "met from" rounded up; every time on the page and in the CSVs is this one,
    so the form, the audit and the event list give one instant the same second. Stored
    data keeps the fraction."""
    return float(math.ceil(t - 1e-6))


def local(rec: SessionRecord, t: float) -> datetime:
    return datetime.fromtimestamp(shown_s(t), tz=ZoneInfo(rec.tz))


def treatment_t(rec: SessionRecord) -> float:
    """The time the form's treatment date is taken from: administration, else start."""
    return rec.dose_start_t if rec.dose_start_t is not None else rec.started_t


def fmt_day(rec: SessionRecord, t: float | None = None) -> str:
    return local(rec, treatment_t(rec) if t is None else t).strftime("%Y-%m-%d")


def fmt_t(rec: SessionRecord, t: float | None) -> str:
    """Local clock time; with the date in front when it is not the treatment date (a
    session across local midnight; the year too when it is another), and the zone's
    abbreviation after it when it is not the treatment's, which the page names (a
    session across a daylight-saving change: 01:45 EST is no time under "EDT")."""
    if t is None:
        return "missing"
    d = local(rec, t)
    s = d.strftime("%H:%M:%S")
    day = fmt_day(rec)
    if d.strftime("%Y-%m-%d") != day:
        # With the year when it is not the treatment's: a stored record's device time a
        # year off read "05-07 05:50:00", the day after a treatment on 2024-05-06.
        s = d.strftime("%Y-%m-%d " if d.strftime("%Y") != day[:4] else "%m-%d ") + s
    if d.tzname() != local(rec, treatment_t(rec)).tzname():
        s += f" {d.tzname()}"
    return s


def fmt_tz(rec: SessionRecord, t: float | None = None) -> str:
    """The zone as shown next to times: abbreviation and IANA name."""
    abbr = local(rec, treatment_t(rec) if t is None else t).tzname() or ""
    return abbr if rec.tz == "UTC" else f"{abbr}, {rec.tz}"


def fmt_iso_utc(t: float | None) -> str:
    if t is None:
        return ""
    iso = datetime.fromtimestamp(shown_s(t), tz=UTC).isoformat(timespec="seconds")
    return iso.replace("+00:00", "Z")


def fmt_iso_local(rec: SessionRecord, t: float | None) -> str:
    return "" if t is None else local(rec, t).isoformat(timespec="seconds")


def minutes(rec: SessionRecord, t: float) -> float:
    origin = rec.dose_start_t if rec.dose_start_t is not None else rec.started_t
    return (t - origin) / 60.0


def fmt_rel(rec: SessionRecord, t: float | None) -> str:
    """Minutes from the dose, rounded down to the tenth (never later than the fact): to
    the nearest, a BP at 34 min 57 s read "+35.0" beside "no valid BP 35-50 min after the
    dose", which left it out. (The 1e-6 absorbs float error: 35 min exactly stays 35.0.)
    Never on the other side of an edge of that window than the time itself: rounded down,
    a BP 50 min 03 s after the dose read "+50.0", inside the window that left it out; it
    reads "+50.1" (and one a few microseconds before 35 min, "+34.9")."""
    if t is None:
        return ""
    x = math.floor(minutes(rec, t) * 10 + 1e-6) / 10
    ds = rec.dose_start_t
    if ds is not None:
        # The window as record.py judges it: closed, [ds + 35 min, ds + 50 min] by default,
        # the clinic's session.check_missed window when its config moves it. Each edge in
        # tenths, so an edge that is no whole tenth (45.55 min) is not crossed either.
        lo, hi = rec.post_window_s
        if t > ds + hi and x <= hi / 60:
            x = math.floor(hi / 6 + 1e-6) / 10 + 0.1
        elif t < ds + lo and x >= lo / 60:
            x = math.ceil(lo / 6 - 1e-6) / 10 - 0.1
    return f"{x:+.1f}"


def minutes_up(x: float) -> int:
    """Whole minutes rounded up, for a time the patient could have left (never earlier
    than the criteria were met): to the nearest, 50 min 20 s read "50 min"."""
    return math.ceil(x - 1e-6)


def fmt_bp(b: BpReading | None) -> str:
    if b is None:
        return "missing"
    s = f"{b.sys_mmHg:g}/{b.dia_mmHg:g} mmHg"
    if b.map_mmHg is not None:
        s += f" (MAP {b.map_mmHg:g})"
    if b.pulse_bpm is not None:
        s += f", pulse {b.pulse_bpm:g}"
    return s


def fmt_dur(seconds: float | None) -> str:
    """A time to acknowledge, as a hole's length (docs/report.md "Times"): never shorter,
    and from an hour on in hours and minutes ("61 min 00 s" before)."""
    return "-" if seconds is None else span_text(seconds)


def title(rec: SessionRecord) -> str:
    if rec.rems_applies:
        return "Spravato REMS patient monitoring record (Patient Monitoring Form data)"
    return f"Session monitoring record ({rec.protocol})"


# A device clock this far from the receive time is worth showing next to it (a cuff
# stamps its measurement up to about a minute before it is received).
DEVICE_TIME_NOTE_S = 60.0


def device_time_note(rec: SessionRecord, t: float, device_t: float | None) -> str:
    """ "; device clock HH:MM:SS" when the device's own time differs materially from the
    receive time the reading is placed on."""
    if device_t is None or abs(device_t - t) < DEVICE_TIME_NOTE_S:
        return ""
    return f"; device clock {fmt_t(rec, device_t)}"


def rems_text(rec: SessionRecord, f: RemsField) -> str:
    if f.reading is None:
        if not rec.rems_applies and f.name == "post_dose_40min":
            return f"not recorded ({f.missing_reason})"
        return f"MISSING ({f.missing_reason})"
    origin = "dose" if rec.dose_start_t is not None else "start"
    b = f.reading
    return (
        f"{fmt_bp(b)} at {fmt_t(rec, b.t)} "
        f"({fmt_rel(rec, b.t)} min from {origin}{device_time_note(rec, b.t, b.device_time)})"
    )


def field_missing(rec: SessionRecord, f: RemsField) -> bool:
    """Shown as missing (red): not for a 40-minute BP the protocol does not require."""
    return f.reading is None and (rec.rems_applies or f.name != "post_dose_40min")


def outage_text(rec: SessionRecord) -> str | None:
    """The session's daemon outages in one phrase, or None when monitoring never stopped."""
    n, down_s = outage_count(rec.gaps)
    if not n:
        return None
    unknown = unknown_outages(rec.gaps)
    total = f"{span_text(down_s)} in all" + (
        f" and {unknown} time{'s' if unknown > 1 else ''} for an unknown time" if unknown else ""
    )
    return (
        f"NOT CONTINUOUS: monitord was not running {n} time{'s' if n > 1 else ''} in this "
        f"session, {total}, with no monitoring and no alarms (see gaps)"
    )


def monitoring_text(rec: SessionRecord) -> str:
    down = outage_text(rec)
    if rec.monitoring_s is None:
        return f"MISSING ({rec.monitoring_missing_reason})" + (f"; {down}" if down else "")
    # The figure the minimum is read against on the form: never left unmarked when short.
    short = (
        "; SHORT of the protocol minimum (see Observation after the dose)"
        if observation_short(rec)
        else ""
    )
    # Tenths of a minute rounded down too: to the nearest, 1 h 59 min 57 s read
    # "1 h 59 min (120.0 min; ...)", the 2-hour minimum, beside SHORT.
    tenths = math.floor(rec.monitoring_s / 6 + 1e-6) / 10
    return (
        f"{duration_text(rec.monitoring_s)} ({tenths:.1f} min; dose start "
        f"{fmt_t(rec, rec.dose_start_t)} to session end {fmt_t(rec, rec.ended_t)})"
        + short
        + (f"; {down}" if down else "")
    )


def observation_short(rec: SessionRecord) -> bool:
    return rec.observation.verdict == "short"


def observation_text(rec: SessionRecord) -> str:
    """The observation after the dose against the protocol's minimum (observation.py):
    met, SHORT, or CANNOT BE JUDGED with the reason; flagged (red) unless met."""
    o = rec.observation
    origin = o.origin.replace("_", " ")
    minimum = f"the protocol minimum of {clock_text(o.minimum_s)} from {origin}"
    if o.verdict == "not_judged" or o.observed_s is None:
        return f"CANNOT BE JUDGED against {minimum} ({o.reason})"
    span = f"{clock_text(o.observed_s)} from {origin} to session end"
    if o.verdict == "short":
        lack = clock_text(math.ceil(o.minimum_s - o.observed_s - 1e-6))
        return f"SHORT: {span}, under {minimum} ({lack} short)"
    text = f"met: {span}, at least {minimum}"
    # Not a break, but the lead should see them: device gaps monitord alarmed, and apart
    # the stretches without valid SpO2 no alarm covered (a link up, no SpO2 sent: not a
    # device gap in a clinician's words, and no alarm sounded for it).
    holes = []
    if o.device_gaps:
        n = o.device_gaps
        holes.append(f"{n} device data gap{'s' if n > 1 else ''}")
    if o.spo2_gaps:
        n = o.spo2_gaps
        holes.append(f"{n} stretch{'es' if n > 1 else ''} without valid SpO2 (no alarm)")
    if holes:
        text += f"; {' and '.join(holes)} inside the minimum window (see gaps)"
    return text


def dose_text(rec: SessionRecord) -> str:
    parts = []
    parts.append(f"{rec.dose_mg:g} mg" if rec.dose_mg is not None else "dose not recorded")
    parts.append(f"lot {rec.lot}" if rec.lot is not None else "lot not recorded")
    # Said when missing, as the dose and lot are: left out, the field read as complete
    # and nobody was asked who gave the dose.
    parts.append(f"given by {rec.dose_by}" if rec.dose_by is not None else "given by not recorded")
    return ", ".join(parts)


def could_leave_text(rec: SessionRecord) -> str:
    """The REMS Evaluation Question (without the 2-hour minimum, ready to leave ___ minutes
    from the start of administration): when the discharge criteria were met from, held
    until the end; then what the advisory (gated on the minimum) said."""
    r = rec.readiness
    to = "completion of monitoring" if rec.ended else "the last data (session not ended)"
    minimum = "2-hour" if rec.rems_applies else "observation"
    if r.met_t is None:
        text = f"discharge criteria (without the {minimum} minimum): no answer, {r.reason}"
    else:
        # The form asks for minutes from the start of administration.
        text = f"{minutes_up(minutes(rec, r.met_t))} min from administration"
        if not rec.rems_applies and rec.dose_end_t is not None:
            # IV ketamine: no REMS question; the infusion's end is its natural origin.
            text += f", {minutes_up((r.met_t - rec.dose_end_t) / 60)} min after the dose end"
        text += (
            # The clock time rounded up to the second too, as every time (shown_s): a BP
            # received at 09:55:20.4 read "met from 09:55:20", before the fact.
            f": discharge criteria met from {fmt_t(rec, r.met_t)} until {to}, "
            f"without the {minimum} minimum"
        )
        text += spo2_unseen_text(rec)
    if rec.discharge_ready_t is not None:
        t = rec.discharge_ready_t
        text += (
            f"; session.discharge_ready raised at {fmt_t(rec, t)} "
            f"({minutes_up(minutes(rec, t))} min) and standing at the end"
        )
    if r.met_t is not None and outage_count(rec.gaps)[0]:
        # The criteria are unknown while monitord was not running: counted after it.
        text += (
            "; monitord was not running during the session (see gaps): the criteria are "
            "counted from its end at the earliest, never across it"
        )
    return text + "; the clinician decides"


def spo2_unseen_text(rec: SessionRecord) -> str:
    """Beside the criteria met: the stretches with no valid SpO2 in the window before
    (readiness.py). The rule counts SpO2 only when seen then, so it reported the criteria
    met while no SpO2 was seen at all (an oximeter lost, the SpO2 line NOT CONTINUOUS),
    and nothing here said so. The verdict stays the rule's; this is the fact."""
    r = rec.readiness
    if not r.spo2_unseen:
        return ""
    w = clock_text(r.spo2_window_s)
    term = f"the SpO2 criterion (>= {r.spo2_ge:g} % if seen in the last {w})"
    if not any(v.kind == "spo2" and v.valid and not v.stored for v in rec.vitals):
        return f"; no valid SpO2 in the session: {term} had none to test"
    spans = [f"from {fmt_t(rec, a)} to {fmt_t(rec, b)}" for a, b in r.spo2_unseen]
    first = r.spo2_unseen[0][0]
    before = [
        v.t for v in rec.vitals if v.kind == "spo2" and v.valid and not v.stored and v.t <= first
    ]
    # When the first stretch opens with the criteria (the sample older than the window,
    # or none), when the last SpO2 was; otherwise it is the window before its start.
    if not before:
        last = f" (no valid SpO2 before {fmt_t(rec, first)})"
    elif first - max(before) > r.spo2_window_s + 1e-6:
        last = f" (the last valid SpO2 before {fmt_t(rec, first)} at {fmt_t(rec, max(before))})"
    else:
        last = ""
    return (
        f"; no valid SpO2 in the {w} before any time {spans[0]}{last}"
        + "".join(f", {x}" for x in spans[1:])
        + f": {term} had no SpO2 to test then"
    )


def spo2_text(rec: SessionRecord) -> str:
    s = rec.spo2
    if s.min_pct is None:
        # The summary covers the dose on (record.py): say so, an earlier sample exists.
        since = " from the dose on" if rec.dose_start_t is not None else ""
        return f"MISSING (no valid SpO2 reading{since})"
    # Time below 90 % rounded up to the tenth: a dip of a few seconds never reads 0.0.
    below = math.ceil(s.below_s / 6 - 1e-6) / 10
    return (
        f"minimum {s.min_pct:g} % at {fmt_t(rec, s.min_t)}; "
        f"{below:.1f} min below 90 % ({s.samples} valid samples); {spo2_coverage_text(rec)}"
    )


def spo2_not_continuous(rec: SessionRecord) -> bool:
    """The SpO2 line reads NOT CONTINUOUS (Spo2Summary.not_continuous)."""
    return rec.spo2.not_continuous


def spo2_coverage_text(rec: SessionRecord) -> str:
    """How much of the time the SpO2 line speaks for had valid SpO2; minutes and the
    percentage rounded down (never more coverage than there was)."""
    s = rec.spo2
    origin = "dose start" if rec.dose_start_t is not None else "session start"
    to = "session end" if rec.ended else "the last data (session not ended)"
    # No time to cover (a record ending at the dose instant) is no full coverage: "0.0 of
    # the 0.0 min (100 %)" read as monitored throughout.
    pct = math.floor(100 * s.covered_s / s.span_s + 1e-9) if s.span_s > 0 else 0
    # Tenths as the total monitoring time's, so the two figures read alike.
    text = (
        f"valid SpO2 for {math.floor(s.covered_s / 6 + 1e-6) / 10:.1f} of the "
        f"{math.floor(s.span_s / 6 + 1e-6) / 10:.1f} min from {origin} to {to} ({pct} %)"
    )
    if spo2_not_continuous(rec):
        return (
            f"NOT CONTINUOUS: {text}; the minimum and the time below 90 % speak for those "
            "minutes only (see gaps)"
        )
    return text


def evidence_text(rec: SessionRecord, bp: RemsField, ev: Evidence) -> str:
    if ev.at is None:
        return "no evidence (no dose recorded)" if bp.name == "pre_dose" else "session not ended"

    def age(t: float | None) -> str:
        # An old value is no reading at `at`: say when it was taken.
        if t is None or ev.at is None or ev.at - t <= SPO2_HOLD_MAX_S:
            return ""
        return f" (last valid at {fmt_t(rec, t)}, {span_text(ev.at - t)} before)"

    parts = [f"BP {fmt_bp(bp.reading)}"]
    hr = f"HR {ev.hr_bpm:g}{age(ev.hr_t)}" if ev.hr_bpm is not None else "HR missing"
    parts.append(hr)
    spo2 = f"SpO2 {ev.spo2_pct:g} %{age(ev.spo2_t)}" if ev.spo2_pct is not None else "SpO2 missing"
    parts.append(spo2)
    parts.append("alarms active: " + (", ".join(ev.active) if ev.active else "none"))
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class FormLine:
    key: str  # stable id (HTML ids, CSV names)
    label: str
    value: str
    missing: bool = False


def form_lines(rec: SessionRecord) -> list[FormLine]:
    """The form's fields, in the form's order."""
    pre, post, end = rec.rems
    ended = (
        fmt_t(rec, rec.ended_t) + (f" by {rec.ended_by}" if rec.ended_by else "")
        if rec.ended_t is not None
        else "MISSING (session not ended)"
    )
    lines = [
        FormLine("treatment_date", "Treatment date", f"{fmt_day(rec)} ({fmt_tz(rec)})"),
        FormLine("chair", "Chair", rec.chair),
        FormLine("session", "Session", rec.session_id),
        FormLine("protocol", "Protocol", rec.protocol),
        FormLine(
            "session_start",
            "Session start",
            fmt_t(rec, rec.started_t) + (f" by {rec.started_by}" if rec.started_by else ""),
        ),
        FormLine(
            "dose_start",
            "Administration (dose start)",
            fmt_t(rec, rec.dose_start_t),
            rec.dose_start_t is None,
        ),
        FormLine("dose", "Dose, lot, given by", dose_text(rec)),
        FormLine(
            "dose_end",
            "Dose end",
            fmt_t(rec, rec.dose_end_t)
            + (f" by {rec.dose_end_by}" if rec.dose_end_t is not None and rec.dose_end_by else ""),
        ),
        FormLine(
            "session_end", "Completion of monitoring (session end)", ended, rec.ended_t is None
        ),
        FormLine(
            "monitoring_time",
            "Total monitoring time",
            monitoring_text(rec),
            rec.monitoring_s is None or outage_text(rec) is not None or observation_short(rec),
        ),
        FormLine(
            "observation",
            "Observation after the dose (protocol minimum)",
            observation_text(rec),
            rec.observation.verdict != "met",
        ),
    ]
    for f in (pre, post, end):
        lines.append(FormLine(f.name, f.label, rems_text(rec, f), field_missing(rec, f)))
    lines += [
        FormLine(
            "acceptable_pre",
            "Vitals acceptable prior to administration",
            "[ ] yes  [ ] no   evidence: " + evidence_text(rec, pre, rec.pre_evidence),
        ),
        FormLine(
            "acceptable_end",
            "Vitals acceptable prior to completion of monitoring",
            "[ ] yes  [ ] no   evidence: " + evidence_text(rec, end, rec.end_evidence),
        ),
        FormLine(
            "spo2",
            "SpO2 (pulse oximetry)",
            spo2_text(rec),
            rec.spo2.min_pct is None or spo2_not_continuous(rec),
        ),
        FormLine("could_leave", "Time the patient could have left", could_leave_text(rec)),
    ]
    # First, in red: every time below it (and in the CSVs) is off UTC for its stretch.
    if off := offset_text(rec.clock_offs, lambda t: fmt_t(rec, t)):
        lines.insert(0, FormLine("times_off_utc", "TIMES OFF UTC", off, True))
    # First of all: a MISSING line below may be the store's deletion, not the chair's.
    if rec.pruned_to_t is not None:
        lines.insert(0, FormLine("incomplete", "INCOMPLETE RECORD", pruned_text(rec), True))
    return lines


def pruned_text(rec: SessionRecord) -> str:
    return (
        "this chair's store deleted records measured up to "
        f"{fmt_t(rec, rec.pruned_to_t)} before their retention, to keep within its disk "
        "budget (storage.max_mb): readings and events of this session may be missing "
        "here, and a MISSING line may be one of them; make this record from InfluxDB "
        "(monitord report --from influx)"
    )


CLINICAL_BOXES = (
    "Sedation:                 [ ] none  [ ] present     time ________",
    "Dissociation:             [ ] none  [ ] present     time ________",
    "Respiratory depression:   [ ] none  [ ] present     time ________",
)
SIGNATURE_LINES = (
    "Healthcare provider (name) ______________________________",
    "Signature ______________________________   Date __________",
)


def csv_text(by: str | None) -> str:
    """A person's name as typed at the station (free text), for a CSV cell: one starting
    with = + - @ or a tab or CR is quoted with a leading "'" (OWASP "CSV Injection"), as a
    spreadsheet opening the events CSV ran "=HYPERLINK(...)" typed as a name as a formula."""
    by = by or ""
    return "'" + by if by.startswith(("=", "+", "-", "@", "\t", "\r")) else by
