"""Alarm episodes a session record must show (docs/report.md "Alarm audit"): one still
active when the nurse ends the session (session_end only clears the session's alerts
administratively, clinical-rules.md "Precise semantics"), and one raised before
session_start and still active in the session (readings outside a session are evaluated;
a device missing at boot is lost). Audit regressions: both went missing or "cleared"."""

from __future__ import annotations

from pathlib import Path

from monitord.report.lists import audit_row, event_line, gap_lines
from monitord.report.render import render_html

from .reportkit import form, play_record
from .storeplay import T0

ACTIVE_AT_END = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-a"}
{"t": 60, "event": "bp", "sys": 120, "dia": 80}
{"t": 120, "event": "bp", "sys": 122, "dia": 80}
{"t": 300, "event": "dose_start"}
{"t": 600, "event": "dose_end"}
{"t": 2700, "event": "bp", "sys": 150, "dia": 90}
{"t": 7500, "event": "bp", "sys": 165, "dia": 95}
{"t": 7560, "event": "bp", "sys": 166, "dia": 96}
{"t": 7700, "event": "session_end"}
{"t": 7800, "event": "end"}
"""


def test_an_alarm_session_end_cleared_is_active_at_end(tmp_path: Path) -> None:
    rec = play_record(tmp_path, ACTIVE_AT_END)
    (nd,) = [e for e in rec.episodes if e.rule == "bp.not_declining"]
    # The engine emits a `cleared` at session_end; it ended no alarm.
    assert any(
        a.rule == "bp.not_declining" and a.event == "cleared" and a.t == rec.ended_t
        for a in rec.alerts
    )
    assert nd.active_at_end and nd.ended_by_session_end and nd.cleared_t is None
    assert audit_row(rec, nd)[5] == "ACTIVE AT END"
    assert rec.episodes[0] is nd  # active at the end: listed first
    assert "bp.not_declining" in form(rec)["acceptable_end"]
    assert "bp.not_declining" in rec.end_evidence.active
    # Shaded to the end of the chart, not to a clear.
    (band,) = [b for b in rec.bands if b.rule == "bp.not_declining"]
    assert band.end is None


def test_a_clinical_clear_at_the_session_end_instant_stays_a_clear(tmp_path: Path) -> None:
    # BP overdue from 3480 s; a valid BP at the very instant of session_end (before it in
    # file order) clears tech.bp_overdue on its merit.
    text = ACTIVE_AT_END.replace(
        '{"t": 7500, "event": "bp", "sys": 165, "dia": 95}\n'
        '{"t": 7560, "event": "bp", "sys": 166, "dia": 96}\n',
        '{"t": 7700, "event": "bp", "sys": 120, "dia": 80}\n',
    )
    rec = play_record(tmp_path, text)
    (od,) = [e for e in rec.episodes if e.rule == "tech.bp_overdue" and e.raised_t > 3000 + T0]
    assert od.cleared_t == rec.ended_t and not od.ended_by_session_end
    assert not od.active_at_end


ACTIVE_FROM_BEFORE = """\
{"t": 0, "event": "bp", "sys": 185, "dia": 112}
{"t": 60, "event": "bp", "sys": 186, "dia": 113}
{"t": 100, "event": "device_lost", "device": "spo2"}
{"t": 200, "event": "session_start", "protocol": "esketamine", "session_id": "s-b"}
{"t": 260, "event": "bp", "sys": 178, "dia": 104}
{"t": 320, "event": "bp", "sys": 176, "dia": 102}
{"t": 400, "event": "dose_start"}
{"t": 700, "event": "dose_end"}
{"t": 2800, "event": "bp", "sys": 175, "dia": 102}
{"t": 7700, "event": "bp", "sys": 175, "dia": 102}
{"t": 7800, "event": "session_end"}
{"t": 7900, "event": "end"}
"""


def test_an_alarm_raised_before_the_session_is_in_its_record(tmp_path: Path) -> None:
    rec = play_record(tmp_path, ACTIVE_FROM_BEFORE)
    f = form(rec)
    by_rule = {e.rule: e for e in rec.episodes}
    severe = by_rule["bp.severe"]
    # Its real raise time (the second reading before the session), shown as before it.
    assert severe.before_session and severe.raised_t == rec.started_t - 140
    assert severe.active_at_end and severe.escalations > 0
    assert "(before session)" in audit_row(rec, severe)[0]
    assert "bp.severe" in f["acceptable_pre"] and "bp.severe" in f["acceptable_end"]
    lost = by_rule["tech.device_lost"]
    assert lost.before_session
    assert "tech.device_lost" in f["acceptable_pre"]
    # The event list shows where it began: its raise.
    assert any("bp.severe raised" in event_line(rec, i) for i in range(len(rec.alerts)))
    # The gap and the chart band start with the session.
    (gap,) = [g for g in rec.gaps if g.what == "device_lost"]
    assert gap.start == rec.started_t and gap.end is None
    assert "since before the session start" in gap.detail
    assert any("still open at session end" in line for line in gap_lines(rec))
    (band,) = [b for b in rec.bands if b.rule == "bp.severe"]
    assert band.start == rec.started_t and band.end is None


def test_an_alarm_cleared_before_the_session_is_not_in_it(tmp_path: Path) -> None:
    text = ACTIVE_FROM_BEFORE.replace(
        '{"t": 100, "event": "device_lost", "device": "spo2"}\n',
        '{"t": 100, "event": "device_lost", "device": "spo2"}\n'
        '{"t": 150, "event": "device_back", "device": "spo2"}\n',
    )
    rec = play_record(tmp_path, text)
    assert "tech.device_lost" not in {e.rule for e in rec.episodes}
    assert not any(g.what == "device_lost" for g in rec.gaps)


def test_an_episode_raised_before_the_look_back_is_known_by_its_events() -> None:
    from monitord.models import AlertEvent
    from monitord.report.audit import episodes

    # Only an escalation in the session: its raise is older than the data read.
    esc = AlertEvent(
        1000.0, "chair-1", "tech.device_lost", "escalated", "medium", "technical", "a-1",
        "dosing", {}, "Device spo2: link down", level=9,
    )  # fmt: skip
    (e,) = episodes([esc], start_t=500.0, end_t=2000.0)
    assert e.before_session and not e.raise_known and e.active_at_end
    assert e.raised_t == 500.0 and e.escalations == 1 and e.max_level == 9


BASELINE_HIGH = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-h"}
{"t": 60, "event": "bp", "sys": 150, "dia": 95}
{"t": 120, "event": "bp", "sys": 152, "dia": 96}
{"t": 600, "event": "dose_start"}
{"t": 900, "event": "dose_end"}
{"t": 3000, "event": "bp", "sys": 130, "dia": 80}
{"t": 7800, "event": "session_end"}
{"t": 7801, "event": "end"}
"""


def test_the_baseline_advisory_the_dose_closed_is_evidence_prior_to_administration(
    tmp_path: Path,
) -> None:
    # bp.baseline_high ("weigh the risk before dosing") stood until the dose, whose
    # dose_start closed it (clinical-rules.md: clear "mean <= 140/90, or dose_start"):
    # the evidence next to "vitals acceptable prior to administration" said "alarms
    # active: none".
    rec = play_record(tmp_path, BASELINE_HIGH)
    (bh,) = [e for e in rec.episodes if e.rule == "bp.baseline_high"]
    assert bh.cleared_t == rec.dose_start_t
    assert rec.pre_evidence.active == ("bp.baseline_high",)
    assert form(rec)["acceptable_pre"].endswith("alarms active: bp.baseline_high")
    # Closed at the dose: not active at the end.
    assert "bp.baseline_high" not in rec.end_evidence.active


def test_spo2_missing_after_the_dose_does_not_say_there_was_none(tmp_path: Path) -> None:
    # The SpO2 field covers the dose to the end: a probe that gave valid samples before
    # the dose only is missing there, but "no valid SpO2 reading" was false.
    text = BASELINE_HIGH.replace(
        '{"t": 600, "event": "dose_start"}\n',
        '{"t": 180, "event": "spo2", "spo2": 97}\n{"t": 600, "event": "dose_start"}\n',
    )
    rec = play_record(tmp_path, text)
    assert rec.pre_evidence.spo2_pct == 97
    assert form(rec)["spo2"] == "MISSING (no valid SpO2 reading from the dose on)"


def test_evidence_says_when_an_hr_or_spo2_value_is_old(tmp_path: Path) -> None:
    # The last valid HR and SpO2 at completion were taken 2 h or more before it (the sensors
    # gave nothing after): shown bare, "HR 70; SpO2 97 %" read as the vitals at the end.
    text = BASELINE_HIGH.replace(
        '{"t": 600, "event": "dose_start"}\n',
        '{"t": 180, "event": "spo2", "spo2": 97}\n{"t": 180, "event": "hr", "hr": 70}\n'
        '{"t": 570, "event": "hr", "hr": 71}\n{"t": 600, "event": "dose_start"}\n',
    )
    rec = play_record(tmp_path, text)
    f = form(rec)
    # 30 s before the dose: current (a sample stands for up to 60 s, summary.py).
    assert "; HR 71; SpO2 97 % (last valid at 09:03:00, 7 min 00 s before);" in f["acceptable_pre"]
    # 2 h 00 min 30 s: an age of an hour or more is rounded up (never shown fresher).
    assert (
        "; HR 71 (last valid at 09:09:30, 2 h 01 min before); "
        "SpO2 97 % (last valid at 09:03:00, 2 h 07 min before);" in f["acceptable_end"]
    )


def test_the_audit_of_a_session_not_ended_does_not_claim_a_session_end(tmp_path: Path) -> None:
    # "N still active at session end" in a session with no session_end (the form says
    # "MISSING (session not ended)"): the alarms are active at the end of the data.
    text = ACTIVE_AT_END.replace('{"t": 7700, "event": "session_end"}\n', "")
    rec = play_record(tmp_path, text)
    assert not rec.ended and any(e.active_at_end for e in rec.episodes)
    html = render_html(rec)
    assert "still active at session end" not in html
    assert "still active at the end of the data (session not ended)" in html
    assert "still active at session end" in render_html(play_record(tmp_path / "e", ACTIVE_AT_END))
