"""Guards found by hand mutation of the report against its contract (issue 18 and
docs/report.md): each test names the sentence it keeps, and each failed on a small wrong
change to the product that the rest of tests/report let through."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent, utc
from monitord.outbox import Outbox
from monitord.report import build_record, record_for, session_spans
from monitord.report.lists import audit_header, audit_row
from monitord.report.load import NoSuchSession, SessionSpan, find_spans, spans_from_events
from monitord.report.render import events_rows, render_html, vitals_rows
from monitord.report.text import csv_text, form_lines

NY = "America/New_York"
T0 = 1714986000.0
CHAIR = "chair-3"


def bp(t: float, s: float, d: float, chair: str = CHAIR) -> Reading:
    vals = {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": None, "pulse_bpm": None}
    return Reading(chair, "nibp", Kind.BP, vals, utc(T0 + t), utc(T0 + t))


def sess(
    *acts: tuple[float, str], sid: str = "s1", protocol: str = "esketamine"
) -> list[SessionEvent]:
    return [SessionEvent(T0 + t, CHAIR, a, protocol, sid) for t, a in acts]


def test_a_session_started_at_local_midnight_is_listed_on_that_day_only() -> None:
    # docs/report.md: "`--date` is the **local** day the session started": one started at
    # 00:00:00 local belongs to that day, not also to the day before (local midnight to
    # local midnight, the end excluded).
    t = datetime(2024, 5, 7, tzinfo=ZoneInfo(NY)).timestamp()
    ev = SessionEvent(t, "chair-1", "start", "esketamine", "s-midnight")
    spans = [SessionSpan("s-midnight", "chair-1", (ev,), t, None, None)]
    assert find_spans(spans, day=date(2024, 5, 7), tz=NY) == spans
    with pytest.raises(NoSuchSession):
        find_spans(spans, day=date(2024, 5, 6), tz=NY)


def test_a_bp_at_the_dose_instant_is_not_the_pre_dose_bp() -> None:
    # docs/report.md: pre-dose BP is "the last valid BP of the session before
    # `dose_start`"; the end BP is "never the pre-dose BP". One taken at the dose instant
    # is the dose's own (record.py counts it after the dose): were it both, a session
    # ended early would show one reading as the BP before and after administration.
    rec = build_record(
        [bp(300, 128, 80), bp(600, 150, 95)],
        [],
        sess((0, "start"), (600, "dose_start"), (1800, "end")),
    )
    pre = rec.rems_field("pre_dose").reading
    end = rec.rems_field("end_of_monitoring").reading
    assert pre is not None and pre.t == T0 + 300
    assert end is not None and end.t == T0 + 600


def test_the_only_bp_at_the_session_start_instant_is_the_pre_dose_bp() -> None:
    # docs/report.md: pre-dose BP is "the last *valid* BP of the session before
    # `dose_start`": a BP at the session start instant is of the session (a cuff cycled
    # as the nurse pressed start), and the only one before the dose fills the field.
    rec = build_record(
        [bp(0, 128, 80), bp(3000, 140, 85)],
        [],
        sess((0, "start"), (600, "dose_start"), (8000, "end")),
    )
    pre = rec.rems_field("pre_dose").reading
    assert pre is not None and (pre.t, pre.sys_mmHg) == (T0, 128)


def alert(
    t: float, rule: str, event: str, priority: str, aid: str, by: str | None = None
) -> AlertEvent:
    return AlertEvent(
        T0 + t, CHAIR, rule, event, priority, "physiological", aid, "observation", {}, rule, by=by
    )


def test_a_medium_alarm_nobody_acknowledged_reads_not_acked() -> None:
    # docs/report.md "Alarm audit": time to acknowledge is "`NOT ACKED` for a high or
    # medium alarm nobody acknowledged; `-` for low ones, which need none".
    alerts = [
        alert(1000, "spo2.low", "raised", "medium", "a-med"),
        alert(1100, "spo2.low", "cleared", "medium", "a-med"),
        alert(2000, "hr.low", "raised", "low", "a-low"),
        alert(2100, "hr.low", "cleared", "low", "a-low"),
    ]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    to_ack = {e.alert_id: audit_row(rec, e)[3] for e in rec.episodes}
    assert to_ack == {"a-med": "NOT ACKED", "a-low": "-"}


def test_the_audit_names_who_acknowledged_and_how_long_it_took() -> None:
    # Issue 18 "Build": the alarm audit gives, per episode, "time to acknowledge, by whom".
    alerts = [
        alert(1000, "bp.crisis", "raised", "high", "a-hi"),
        alert(1030, "bp.crisis", "acknowledged", "high", "a-hi", by="nurse-ann"),
        alert(1500, "bp.crisis", "cleared", "high", "a-hi"),
    ]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    (ep,) = rec.episodes
    row = dict(zip(audit_header(), audit_row(rec, ep), strict=True))
    assert (row["to ack"], row["ack by"]) == ("30 s", "nurse-ann")


def _live(t: float, kind: Kind, key: str, v: float, device: str) -> Reading:
    return Reading(CHAIR, device, kind, {key: v}, utc(T0 + t), utc(T0 + t), contact=True)


def test_stored_spo2_and_hr_fill_no_summary_and_no_evidence() -> None:
    # docs/report.md: "A stored record (a cuff's memory pushed on connect) is listed as
    # history and never fills a field": not the SpO2 minimum or time below 90 %, not the
    # HR or SpO2 evidence of "vitals acceptable prior to completion".
    live = [
        r
        for t in range(600, 8000, 30)
        for r in (
            _live(t, Kind.SPO2, "spo2_pct", 97.0, "oxi"),
            _live(t, Kind.HR, "hr_bpm", 70.0, "ecg"),
        )
    ]
    # The monitors' memories pushed on a reconnect, measured 10 s before the session end.
    stored = [
        Reading(
            CHAIR, dev, kind, {key: v}, utc(T0 + 7990), utc(T0 + 7995), contact=True, stored=True
        )
        for dev, kind, key, v in (
            ("oxi", Kind.SPO2, "spo2_pct", 85.0),
            ("ecg", Kind.HR, "hr_bpm", 150.0),
        )
    ]
    rec = build_record([*live, *stored], [], sess((0, "start"), (600, "dose_start"), (8000, "end")))
    assert len(rec.stored) == 2  # listed, as history
    assert (rec.spo2.min_pct, rec.spo2.below_s) == (97.0, 0.0)
    assert (rec.end_evidence.hr_bpm, rec.end_evidence.spo2_pct) == (70.0, 97.0)


def test_a_stored_record_is_never_the_start_of_monitoring() -> None:
    # record.py: stored records are "never a REMS reading, never the start of monitoring"
    # (`first_reading_t`, the first live reading, kept for reference).
    stored = Reading(
        CHAIR, "cuff", Kind.BP, {"sys_mmHg": 150.0, "dia_mmHg": 95.0}, utc(T0 + 100),
        utc(T0 + 700), stored=True,
    )  # fmt: skip
    rec = build_record(
        [stored, _live(200, Kind.HR, "hr_bpm", 70.0, "ecg")],
        [],
        sess((0, "start"), (600, "dose_start"), (8000, "end")),
    )
    assert rec.first_reading_t == T0 + 200


def test_a_stored_invalid_bp_is_no_gap_of_the_session() -> None:
    # record.py: stored records are history, "never an invalid-reading gap": a cuff error
    # in the cuff's memory is no rejected BP of this session on the gaps list.
    stored = Reading(
        CHAIR, "cuff", Kind.BP, {"sys_mmHg": None, "dia_mmHg": None}, utc(T0 + 3000),
        utc(T0 + 3100), valid=False, flags=("cuff_error",), stored=True,
    )  # fmt: skip
    rec = build_record(
        [bp(300, 128, 80), stored, bp(2800, 140, 85), bp(7900, 130, 80)],
        [],
        sess((0, "start"), (600, "dose_start"), (8000, "end")),
    )
    assert [v.valid for v in rec.stored] == [False]
    assert [g.what for g in rec.gaps] == []


def test_an_open_session_is_bounded_by_its_own_chairs_next_start_only() -> None:
    # docs/report.md: "a session is a chair's `start` and what follows it under its id":
    # a session not ended runs to that chair's next start, never to another chair's (its
    # record would lose the readings after chair-2's patient sat down).
    evs = [
        SessionEvent(T0, "chair-1", "start", "esketamine", "s-a"),
        SessionEvent(T0 + 100, "chair-2", "start", "esketamine", "s-b"),
        SessionEvent(T0 + 900, "chair-1", "start", "esketamine", "s-c"),
    ]
    bounds = {s.session_id: s.next_start_t for s in spans_from_events(evs)}
    assert bounds == {"s-a": T0 + 900, "s-b": None, "s-c": None}


def test_an_open_sessions_record_takes_nothing_of_its_chairs_next_session(
    tmp_path: Path,
) -> None:
    # docs/report.md: a session is "a chair's `start` and what follows it under its id":
    # one never ended (a store started fresh, an end refused) ends where that chair's next
    # session starts; the next patient's readings are not in its record (real store).
    db = tmp_path / "o.sqlite"
    with Outbox(db, StorageConfig(path=db)) as ob:
        ob.add_session_events([SessionEvent(T0, CHAIR, "start", "esketamine", "s-a")])
        ob.add_readings([bp(100, 128, 80)], {CHAIR: "s-a"})
        ob.add_session_events([SessionEvent(T0 + 1000, CHAIR, "start", "esketamine", "s-b")])
        ob.add_readings([bp(1100, 190, 115)], {CHAIR: "s-b"})
        ob.commit()
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        first, second = (record_for(ob, s) for s in session_spans(ob))
    assert [(v.t, v.values["sys_mmHg"]) for v in first.vitals] == [(T0 + 100, 128)]
    assert [(v.t, v.values["sys_mmHg"]) for v in second.vitals] == [(T0 + 1100, 190)]


def test_the_evidence_takes_a_value_taken_at_that_very_instant() -> None:
    # docs/report.md: next to each "vitals acceptable" box, "the last valid HR and SpO2 at
    # that moment": one taken at the dose (or end) instant is the value at that moment.
    readings = [
        _live(300, Kind.HR, "hr_bpm", 60.0, "ecg"),
        _live(600, Kind.HR, "hr_bpm", 88.0, "ecg"),
        _live(7000, Kind.HR, "hr_bpm", 61.0, "ecg"),
        _live(8000, Kind.HR, "hr_bpm", 77.0, "ecg"),
    ]
    rec = build_record(readings, [], sess((0, "start"), (600, "dose_start"), (8000, "end")))
    assert (rec.pre_evidence.hr_bpm, rec.end_evidence.hr_bpm) == (88.0, 77.0)


def test_the_events_csv_keeps_every_escalation() -> None:
    # docs/report.md: `ID-events.csv` holds "every alert event (each escalation
    # included)": the audit counts them, the CSV is where each one is.
    alerts = [
        alert(1000, "bp.crisis", "raised", "high", "a-hi"),
        *(
            replace(alert(1000 + 60 * n, "bp.crisis", "escalated", "high", "a-hi"), level=n)
            for n in (1, 2, 3)
        ),
        alert(1200, "bp.crisis", "acknowledged", "high", "a-hi", by="nurse-ann"),
    ]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    rows = [(r["event"], r["time_utc"]) for r in events_rows(rec) if r["source"] == "alert"]
    assert rows == [
        ("raised", "2024-05-06T09:16:40Z"),
        ("escalated 1", "2024-05-06T09:17:40Z"),
        ("escalated 2", "2024-05-06T09:18:40Z"),
        ("escalated 3", "2024-05-06T09:19:40Z"),
        ("acknowledged", "2024-05-06T09:20:00Z"),
    ]


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_lead_of_a_name_is_quoted_in_the_csv(lead: str) -> None:
    # docs/report.md: a `by` name "that starts with `=`, `+`, `-`, `@`, a tab or a CR is
    # written with a leading `'`" (OWASP CSV injection): each of the six, not some.
    assert csv_text(f"{lead}1+cmd|' /C calc'!A0") == f"'{lead}1+cmd|' /C calc'!A0"
    assert csv_text("nurse-ann") == "nurse-ann"


def test_both_csvs_carry_the_local_time_with_its_offset() -> None:
    # docs/report.md "Times": "Both CSVs carry `time_utc` and `time_local` (ISO 8601 with
    # offset)", local in `[site] timezone`.
    rec = build_record(
        [bp(3000, 140, 85)], [], sess((0, "start"), (600, "dose_start"), (8000, "end")), NY
    )
    (vit,) = vitals_rows(rec)
    assert (vit["time_utc"], vit["time_local"]) == (
        "2024-05-06T09:50:00Z",
        "2024-05-06T05:50:00-04:00",
    )
    start = next(r for r in events_rows(rec) if r["source"] == "session")
    assert start["time_local"] == "2024-05-06T05:00:00-04:00"


def test_the_discharge_advisory_is_no_episode_of_the_alarm_audit() -> None:
    # docs/report.md "Alarm audit": "`session.discharge_ready` is not an alarm and is
    # shown as 'time the patient could have left'": no audit row, no "NOT ACKED".
    alerts = [
        replace(
            alert(7800, "session.discharge_ready", "raised", "info", "a-ready"), kind="advisory"
        )
    ]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    assert rec.episodes == ()
    assert rec.discharge_ready_t == T0 + 7800


def test_an_alarm_raised_at_the_dose_instant_is_in_the_evidence_prior_to_it() -> None:
    # docs/report.md: next to "vitals acceptable", "the alarms active then"; one raised
    # at that very instant is active then.
    alerts = [alert(600, "hr.high", "raised", "medium", "a-hr")]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    assert rec.pre_evidence.active == ("hr.high",)


def test_an_alarm_still_active_at_the_end_is_red_in_the_html_audit() -> None:
    # docs/report.md "Alarm audit": "Episodes still active at session end come first
    # (high, then medium, then low), in red"; the cleared ones are not.
    alerts = [
        alert(1000, "hr.high", "raised", "medium", "a-done"),
        alert(1100, "hr.high", "cleared", "medium", "a-done"),
        alert(2000, "bp.crisis", "raised", "high", "a-open"),
    ]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    audit = render_html(rec).split('<table id="audit">')[1].split("</table>")[0]
    rows = [r.strip() for r in audit.split("<tbody>")[1].split("</tr>")[:2]]
    assert rows[0].startswith('<tr class="active">') and "bp.crisis" in rows[0]
    assert rows[1].startswith("<tr><td>") and "hr.high" in rows[1]


def test_a_dose_is_shown_as_the_station_sent_it() -> None:
    # docs/report.md: "Dose, lot, given by": `dose_mg`, `lot` and `by` of `dose_start` as
    # the station sent them; an IV-ketamine dose by weight is not a whole number of mg.
    evs = sess((0, "start"), (900, "dose_end"), (8000, "end"), protocol="iv-ketamine")
    dose = SessionEvent(
        T0 + 600, CHAIR, "dose_start", "iv-ketamine", "s1", by="nurse-ann", dose_mg=35.5, lot="L-9"
    )
    rec = build_record([], [], [*evs, dose])
    lines = {fl.key: fl.value for fl in form_lines(rec)}
    assert lines["dose"] == "35.5 mg, lot L-9, given by nurse-ann"


def test_an_alarm_raised_at_the_session_start_instant_is_not_marked_before_it() -> None:
    # docs/report.md "Alarm audit": an alarm raised **before** `session_start` is marked
    # `(before session)`; one raised at that very instant is the session's own.
    alerts = [alert(0, "hr.high", "raised", "medium", "a-hr")]
    rec = build_record([], alerts, sess((0, "start"), (600, "dose_start"), (8000, "end")))
    (ep,) = rec.episodes
    assert not ep.before_session
    assert audit_row(rec, ep)[0] == "09:00:00"


def test_a_start_before_the_fall_back_carries_its_zone_on_a_page_in_the_doses() -> None:
    # docs/report.md "Times": a time "in another zone abbreviation than the treatment's (a
    # session across a daylight-saving change) carries it"; the treatment's is the dose's.
    # New York, 2024-11-03: started 01:50 EDT, dosed 20 min later at 01:10 EST.
    t0 = datetime(2024, 11, 3, 5, 50, tzinfo=UTC).timestamp()
    evs = [
        SessionEvent(t0 + t, CHAIR, a, "esketamine", "s-dst")
        for t, a in ((0, "start"), (1200, "dose_start"), (9000, "end"))
    ]
    lines = {fl.key: fl.value for fl in form_lines(build_record([], [], evs, NY))}
    assert lines["treatment_date"] == "2024-11-03 (EST, America/New_York)"
    assert (lines["session_start"], lines["dose_start"]) == ("01:50:00 EDT", "01:10:00")
