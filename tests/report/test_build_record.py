"""`build_record` without files: the selection rules for the REMS fields at their edges."""

from __future__ import annotations

import pytest

from monitord.models import AlertEvent, Kind, Reading, SessionEvent, utc
from monitord.report import RecordError, build_record
from monitord.report.render import render_html
from monitord.report.text import form_lines

T0 = 1714986000.0
CHAIR = "chair-3"


def bp(t: float, s: float, d: float, chair: str = CHAIR, valid: bool = True) -> Reading:
    return Reading(
        chair,
        "nibp",
        Kind.BP,
        {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": None, "pulse_bpm": None},
        utc(T0 + t),
        utc(T0 + t),
        valid=valid,
    )


def hr(t: float, v: float) -> Reading:
    return Reading(CHAIR, "ecg", Kind.HR, {"hr_bpm": v}, utc(T0 + t), utc(T0 + t))


def sess(
    *acts: tuple[float, str], sid: str = "s1", protocol: str = "esketamine"
) -> list[SessionEvent]:
    return [SessionEvent(T0 + t, CHAIR, a, protocol, sid) for t, a in acts]


FULL = sess((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))


def test_post_dose_tie_takes_the_earlier_and_window_is_closed() -> None:
    # Target 600 + 2400 = 3000; 2880 and 3120 are both 120 s off: the earlier wins.
    rec = build_record([bp(2880, 150, 90), bp(3120, 140, 85)], [], FULL)
    r = rec.rems_field("post_dose_40min").reading
    assert r is not None and (r.t, r.sys_mmHg) == (T0 + 2880, 150)
    # Window edges 2700 and 3600 are inside; one second outside is not.
    for t, inside in ((2700, True), (3600, True), (2699, False), (3601, False)):
        rec = build_record([bp(t, 150, 90)], [], FULL)
        assert (rec.rems_field("post_dose_40min").reading is not None) is inside, t


def test_invalid_bp_never_fills_a_field() -> None:
    readings = [
        bp(500, 130, 80, valid=False),  # cuff error flagged by the device
        bp(3000, 150, 145),  # pulse pressure 5 < 10
        bp(7900, 120, 130),  # sys < dia
    ]
    rec = build_record(readings, [], FULL)
    for f in rec.rems:
        assert f.reading is None, f
    assert rec.rems_field("pre_dose").missing_reason == "no valid BP between session start and dose"
    assert rec.rems_field("end_of_monitoring").missing_reason == "no valid BP after the dose"
    assert [g.what for g in rec.gaps] == ["invalid_bp", "check_missed", "invalid_bp", "invalid_bp"]
    # Monitoring time runs from administration (dose start) to session end, as the REMS
    # form counts it, whatever the readings.
    assert rec.monitoring_s == 8000 - 600


def test_no_dose_and_no_readings() -> None:
    rec = build_record([], [], sess((0, "start"), (100, "end")))
    assert rec.rems_field("pre_dose").missing_reason == "no dose recorded"
    assert rec.rems_field("post_dose_40min").missing_reason == "no dose recorded"
    assert rec.monitoring_s is None
    assert rec.monitoring_missing_reason == "no dose recorded"
    assert [g.what for g in rec.gaps] == ["no_dose"]


def test_other_chairs_and_data_outside_the_session_are_left_out() -> None:
    readings = [bp(-60, 200, 100), bp(60, 120, 80), bp(61, 190, 100, chair="chair-9"), hr(8001, 60)]
    alerts = [
        AlertEvent(
            T0 + 61,
            "chair-9",
            "bp.severe",
            "pending",
            "medium",
            "physiological",
            None,
            "baseline",
            {},
            "x",
        ),
    ]
    rec = build_record(readings, alerts, FULL)
    assert [(v.t - T0, v.kind) for v in rec.vitals] == [(60, "bp")]
    assert rec.alerts == ()
    assert rec.first_reading_t == T0 + 60


def test_iv_ketamine_has_no_rems_wording_and_no_missing_40min_flag() -> None:
    """Issue 18 acceptance 3 (replaces the issue-9 rule that listed a missing 40-minute BP
    as a gap "not required for iv-ketamine"): REMS covers esketamine only."""
    rec = build_record(
        [bp(60, 120, 80), bp(4000, 130, 82)],
        [],
        sess(
            (0, "start"),
            (600, "dose_start"),
            (3000, "dose_end"),
            (7000, "end"),
            protocol="iv-ketamine",
        ),
    )
    assert not rec.rems_applies
    assert [g.what for g in rec.gaps] == []
    post = rec.rems_field("post_dose_40min")
    assert post.reading is None and post.missing_reason == "not required for iv-ketamine"
    page = render_html(rec)
    assert "REMS" not in page and "Spravato" not in page
    row = page.split('id="f-post_dose_40min"')[1].split("</tr>")[0]
    assert "missing" not in row.lower().replace("not recorded", "")  # not flagged
    assert "not recorded (not required for iv-ketamine)" in row
    assert "Session monitoring record (iv-ketamine)" in page
    assert not any("REMS" in fl.value or "REMS" in fl.label for fl in form_lines(rec))


@pytest.mark.parametrize("protocol", ["esketamine", "iv-ketamine"])
def test_session_ended_early_no_check_window_and_no_pre_dose_end_bp(protocol: str) -> None:
    """Ended 20 min after the dose: no `check_missed` window after the end, and the
    BP at end of monitoring is never the pre-dose reading."""
    rec = build_record(
        [bp(300, 128, 80), bp(540, 130, 82)],
        [],
        sess((0, "start"), (600, "dose_start"), (1800, "end"), protocol=protocol),
    )
    pre = rec.rems_field("pre_dose").reading
    assert pre is not None and pre.t == T0 + 540
    end = rec.rems_field("end_of_monitoring")
    assert end.reading is None and end.missing_reason == "no valid BP after the dose"
    assert [g.what for g in rec.gaps] == []
    assert rec.monitoring_s == 1200
    post = rec.rems_field("post_dose_40min").missing_reason
    if protocol == "esketamine":
        assert post == "session ended 20 min after the dose, before the 35-50 min window"
    else:
        assert post == "not required for iv-ketamine"
    # A BP after the dose is the end-of-monitoring BP.
    rec = build_record(
        [bp(540, 130, 82), bp(1500, 150, 90)],
        [],
        sess((0, "start"), (600, "dose_start"), (1800, "end"), protocol=protocol),
    )
    end_bp = rec.rems_field("end_of_monitoring").reading
    assert end_bp is not None and end_bp.t == T0 + 1500


def test_session_events_must_make_one_session() -> None:
    with pytest.raises(RecordError, match="no session start"):
        build_record([], [], sess((600, "dose_start")))
    with pytest.raises(RecordError, match="several sessions"):
        build_record([], [], sess((0, "start")) + sess((10, "end"), sid="s2"))


@pytest.mark.parametrize(
    ("ended_s", "total", "post"),
    [
        # 1 h 59 min 40 s: short of the 2-hour minimum. Rounded to the nearest minute the
        # form's total read "2 h 00 min", the figure the REMS form's 2-hour total is read
        # against, next to a SHORT observation line.
        (7180, "1 h 59 min (119.6 min;", None),
        # 1 h 59 min 57 s: the minutes in brackets were rounded to the nearest tenth and
        # read "1 h 59 min (120.0 min; ...)", the 2-hour minimum, beside SHORT.
        (7197, "1 h 59 min (119.9 min;", None),
        # Ended 34 min 40 s after the dose: rounded, it read "ended 35 min after the dose,
        # before the 35-50 min window", a time inside the window it says it ended before.
        (
            2080,
            "34 min (34.6 min;",
            "session ended 34 min after the dose, before the 35-50 min window",
        ),
    ],
)
def test_durations_on_the_form_are_rounded_down(
    ended_s: float, total: str, post: str | None
) -> None:
    rec = build_record(
        [bp(300, 128, 80), bp(540, 130, 82)],
        [],
        sess((0, "start"), (600, "dose_start"), (900, "dose_end"), (600 + ended_s, "end")),
    )
    lines = {fl.key: fl.value for fl in form_lines(rec)}
    assert lines["monitoring_time"].startswith(total), lines["monitoring_time"]
    assert "SHORT" in lines["observation"]
    if post is not None:
        assert rec.rems_field("post_dose_40min").missing_reason == post
