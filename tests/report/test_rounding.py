"""The report's remaining roundings, each in the direction that never reads better than the
fact (as the form's durations, rounded down since 1ba87ed):

- minutes from the dose (`fmt_rel`, the CSVs' `min_from_dose`, the event list) rounded
  down to the tenth: to the nearest, a BP at 34 min 57 s read "+35.0" beside the
  40-minute field's "no valid BP 35-50 min after the dose", which left it out;
- the time the patient could have left rounded up to the minute: to the nearest, criteria
  met 50 min 20 s after the dose read "50 min", a minute before they were met;
- a hole of an hour or more (monitord down, a value's age) in minutes rounded up: rounded
  down, 1 h 00 min 59 s read "1 h 00 min".
- a hole under an hour to the second rounded up: to the nearest, a 40.4-s outage read
  "40 s".
"""

from __future__ import annotations

import json
from pathlib import Path

from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.report import build_record
from monitord.report.clockoff import offset_span
from monitord.report.gaps import span_text
from monitord.report.lists import audit_row, event_line, gap_lines
from monitord.report.render import vitals_rows
from monitord.report.text import fmt_iso_utc, fmt_rel, fmt_t
from monitord.store.outages import Outage

from .reportkit import form, play_record
from .storeplay import T0

CHAIR = "chair-3"


def test_minutes_from_the_dose_never_read_later_than_the_fact() -> None:
    dose = T0 + 600
    at = dose + 34 * 60 + 57  # 3 s before the 40-minute window opens
    session = [
        SessionEvent(T0 + t, CHAIR, a, "esketamine", "s-rel")
        for t, a in ((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))
    ]
    bp = Reading(CHAIR, "nibp", Kind.BP, {"sys_mmHg": 130.0, "dia_mmHg": 80.0}, utc(at), utc(at))
    rec = build_record([bp], [], session)
    post = rec.rems_field("post_dose_40min")
    assert post.reading is None and post.missing_reason == "no valid BP 35-50 min after the dose"
    (row,) = [r for r in vitals_rows(rec) if r["sys_mmHg"] == "130"]
    assert row["min_from_dose"] == "+34.9", (
        f"min_from_dose {row['min_from_dose']} for a BP 34 min 57 s after the dose: "
        "it reads as inside the 35-50 min window that left it out"
    )
    # Exact tenths stay as they are (no float error pushes them a tenth down), and a time
    # before the dose is not shown after it.
    assert fmt_rel(rec, dose + 35 * 60) == "+35.0"
    assert fmt_rel(rec, dose + 0.3 * 60) == "+0.3"
    assert fmt_rel(rec, dose - 3) == "-0.1"


def _could_leave(tmp_path: Path, second_bp_s: float) -> tuple[float | None, str]:
    """(met_t - T0, could_leave) of a session dosed at 300 s whose second post-dose BP,
    `second_bp_s` after the dose, is where the criteria are met from."""
    dose = 300
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-up"},
        {"t": 60, "event": "bp", "sys": 120, "dia": 80},
        {"t": 120, "event": "bp", "sys": 122, "dia": 80},
        {"t": dose, "event": "dose_start"},
        {"t": 600, "event": "dose_end"},
        {"t": dose + 40 * 60, "event": "bp", "sys": 121, "dia": 79},
        # The second post-dose BP: the criteria are met from it.
        {"t": dose + second_bp_s, "event": "bp", "sys": 121, "dia": 79},
    ]
    lines += [
        {"t": dose + m * 60, "event": "bp", "sys": 121, "dia": 79} for m in range(60, 131, 10)
    ]
    end = dose + 135 * 60
    lines += [{"t": end, "event": "session_end"}, {"t": end + 100, "event": "end"}]
    rec = play_record(tmp_path, "".join(json.dumps(x) + "\n" for x in lines))
    met = rec.readiness.met_t
    return (None if met is None else met - T0), form(rec)["could_leave"]


def test_time_the_patient_could_have_left_is_never_before_the_criteria(tmp_path: Path) -> None:
    met, value = _could_leave(tmp_path, 50 * 60 + 20)
    assert met == 300 + 50 * 60 + 20
    assert value.startswith("51 min from administration: discharge criteria met from 09:55:20"), (
        f"could_leave {value!r}: criteria met 50 min 20 s after the dose must read 51 min, "
        "never a minute before they were met"
    )


def test_an_hour_long_hole_is_never_shown_shorter() -> None:
    assert span_text(3659) == "1 h 01 min"
    assert span_text(3600) == "1 h 00 min"
    assert span_text(3599) == "59 min 59 s"


def test_the_clock_time_criteria_were_met_from_is_never_before_the_fact(tmp_path: Path) -> None:
    # A reading received at a fraction of a second (the daemon's receive time).
    met, value = _could_leave(tmp_path, 50 * 60 + 20.4)
    assert met is not None and abs(met - (300 + 50 * 60 + 20.4)) < 1e-6
    assert value.startswith("51 min from administration: discharge criteria met from 09:55:21"), (
        f"could_leave {value!r}: criteria met at 09:55:20.4 must not read 09:55:20"
    )


def test_minutes_from_the_dose_never_read_inside_the_window_after_it_closed() -> None:
    # The mirror of the 34 min 57 s case: rounded down, a BP 50 min 03 s after the dose
    # read "+50.0" beside "no valid BP 35-50 min after the dose" (the window is closed at
    # 50 min: it was left out).
    dose = T0 + 600
    at = dose + 50 * 60 + 3
    session = [
        SessionEvent(T0 + t, CHAIR, a, "esketamine", "s-rel")
        for t, a in ((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))
    ]
    bp = Reading(CHAIR, "nibp", Kind.BP, {"sys_mmHg": 130.0, "dia_mmHg": 80.0}, utc(at), utc(at))
    rec = build_record([bp], [], session)
    post = rec.rems_field("post_dose_40min")
    assert post.reading is None and post.missing_reason == "no valid BP 35-50 min after the dose"
    (row,) = [r for r in vitals_rows(rec) if r["sys_mmHg"] == "130"]
    assert row["min_from_dose"] == "+50.1", (
        f"min_from_dose {row['min_from_dose']} for a BP 50 min 03 s after the dose: "
        "it reads as inside the 35-50 min window that left it out"
    )
    # The window's own edge stays inside, and the times past the edge are rounded down.
    assert fmt_rel(rec, dose + 50 * 60) == "+50.0"
    assert fmt_rel(rec, dose + 50 * 60 + 9) == "+50.1"
    assert fmt_rel(rec, dose + 50 * 60 + 7) == "+50.1"
    assert fmt_rel(rec, dose + 51 * 60 + 5) == "+51.0"
    # Nor a time a few microseconds before the window opens (the 1e-6 above is 6 us).
    assert fmt_rel(rec, dose + 35 * 60 - 4e-6) == "+34.9"


def test_a_hole_under_an_hour_is_never_shown_shorter() -> None:
    # To the nearest second, a 40.4-s hole read "40 s" and a clean stop of 4.5 s "4 s"
    # (Python rounds halves to even): up to half a second short.
    assert span_text(40.4) == "41 s", "a 40.4-s hole must not read 40 s"
    assert span_text(4.5) == "5 s", "a 4.5-s hole must not read 4 s"
    assert span_text(125.2) == "2 min 06 s"
    assert span_text(3599.4) == "1 h 00 min"
    # Whole seconds stay whole, also with the float error of epoch differences.
    assert span_text((T0 + 40.0) - T0) == "40 s"
    assert span_text(40.0000001) == "40 s"
    outage = Outage(T0 + 1000, T0 + 1040.4, False, "s-hole")
    session = [
        SessionEvent(T0 + t, CHAIR, a, "esketamine", "s-hole")
        for t, a in ((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))
    ]
    rec = build_record([], [], session, outages=[outage])
    (line,) = [x for x in gap_lines(rec) if "daemon_down" in x]
    assert "(41 s), no alarms" in line, f"gap line {line!r}: a 40.4-s outage read shorter"
    assert "41 s in all" in form(rec)["monitoring_time"], form(rec)["monitoring_time"]


def test_a_clock_offset_is_still_given_to_the_nearest_second() -> None:
    # Not a hole: what the reader adds to every printed time (clockoff.offset_span).
    assert offset_span(40.4) == "40 s"
    assert offset_span(3 * 3600 + 20.4) == "3 h 00 min 20 s"


def test_the_discharge_ready_raise_is_never_shown_before_the_fact(tmp_path: Path) -> None:
    # A dose given at 09:05:00.4: the advisory is raised when the observation time is met,
    # 2 h later, at 11:05:00.4. Its time dropped the fraction ("raised at 11:05:00"), a
    # time before it was raised, while "met from" beside it was rounded up (48699de).
    dose = 300.4
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-up"},
        {"t": 60, "event": "bp", "sys": 120, "dia": 80},
        {"t": 120, "event": "bp", "sys": 122, "dia": 80},
        {"t": dose, "event": "dose_start"},
        {"t": 600, "event": "dose_end"},
        {"t": 300 + 40 * 60 + 20.4, "event": "bp", "sys": 121, "dia": 79},
        {"t": 300 + 50 * 60 + 20.4, "event": "bp", "sys": 121, "dia": 79},
    ]
    end = 300 + 135 * 60
    lines += [{"t": end, "event": "session_end"}, {"t": end + 100, "event": "end"}]
    rec = play_record(tmp_path, "".join(json.dumps(x) + "\n" for x in lines))
    raised = rec.discharge_ready_t
    assert raised is not None and abs(raised - (T0 + dose + 7200)) < 1e-6, raised
    value = form(rec)["could_leave"]
    assert "discharge criteria met from 09:55:21 " in value, value
    assert "discharge_ready raised at 11:05:01 (120 min)" in value, (
        f"could_leave {value!r}: an advisory raised at 11:05:00.4 must not read 11:05:00"
    )
    # The event list gives the same second for the same raise.
    (line,) = [
        event_line(rec, i)
        for i, a in enumerate(rec.alerts)
        if a.rule == "session.discharge_ready" and a.event == "raised"
    ]
    assert line.startswith("11:05:01 "), f"event line {line!r}: not the form's raise time"
    # And every time shown is that second: the stored data keeps the fraction.
    assert fmt_t(rec, T0 + 7.0) == "09:00:07" and fmt_t(rec, T0 + 7.2) == "09:00:08"
    assert fmt_iso_utc(T0 + 7.2) == "2024-05-06T09:00:08Z"


def test_a_time_to_acknowledge_reads_as_a_hole_does(tmp_path: Path) -> None:
    """docs/report.md "Times": a time to acknowledge is never shown shorter than it was,
    "under an hour to the second rounded up ..., from an hour on in minutes rounded up
    (1 h 00 min 59 s reads 1 h 01 min)". Before, the audit gave it in minutes and seconds
    whatever its length: an ACK 1 h 00 min 59.4 s after the raise read "61 min 00 s"."""
    ev = [
        {"t": 0, "event": "session_start", "protocol": "esketamine"},
        {"t": 60, "event": "bp", "sys": 120, "dia": 80},
        {"t": 300, "event": "dose_start"},
        {"t": 600, "event": "dose_end"},
        {"t": 1000, "event": "device_lost", "device": "hr"},  # raised 30 s later
        {"t": 1030 + 3659.4, "event": "ack", "rule": "tech.device_lost", "by": "nurse-7"},
        {"t": 5000, "event": "device_lost", "device": "spo2"},
        {"t": 5030 + 40.4, "event": "ack", "rule": "tech.device_lost", "by": "nurse-7"},
        {"t": 7800, "event": "session_end"},
        {"t": 7900, "event": "end"},
    ]
    rec = play_record(tmp_path, "".join(json.dumps(e) + "\n" for e in ev))
    got = sorted(
        (e.raised_t - T0, audit_row(rec, e)[3]) for e in rec.episodes if e.ack_t is not None
    )
    assert got == [(1030.0, "1 h 01 min"), (5030.0, "41 s")], got
