"""The 40-minute BP of the REMS form is judged in `session.check_missed`'s window, the
clinic's when its `[alerts]` moves it (`window_start_s`, `window_end_s`), as the alarm
is: the report kept the default 35-50 min whatever the config it was given said.

With the window moved to 30-45 min, a nurse who took the BP at 32 min (no alarm: the
engine counted it) read "MISSING (no valid BP 35-50 min after the dose)" and a gap "40-
minute check; required" on the form. Moved to 40-55 min, a BP at 37 min only (the
alarm raised at 55 min) filled the field, beside a gap "check_missed (session.check_missed
raised)" dated 35-50 min, a window the alarm never judged."""

from __future__ import annotations

from pathlib import Path

from monitord.engine.rules import RuleSet
from monitord.report import SessionRecord
from monitord.report.lists import gap_lines
from monitord.report.render import vitals_rows
from monitord.report.text import fmt_t

from .reportkit import form, play_record
from .storeplay import T0

DOSE = T0 + 300


def _record(tmp_path: Path, window_min: tuple[int, int], bp_s: tuple[int, ...]) -> SessionRecord:
    """An esketamine session dosed at 300 s with a normal baseline, valid BPs at `bp_s`
    seconds from the dose, ended at 122 min; the clinic's check window (minutes)."""
    lo, hi = window_min
    rules = RuleSet.from_overrides(
        {"session.check_missed": {"window_start_s": lo * 60, "window_end_s": hi * 60}}
    )
    lines = [
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}',
        '{"t": 60, "event": "bp", "sys": 128, "dia": 80}',
        '{"t": 240, "event": "bp", "sys": 130, "dia": 82}',
        '{"t": 300, "event": "dose_start"}',
        '{"t": 400, "event": "dose_end"}',
        *(f'{{"t": {300 + m}, "event": "bp", "sys": 130, "dia": 80}}' for m in bp_s),
        f'{{"t": {300 + 122 * 60}, "event": "session_end"}}',
        f'{{"t": {300 + 123 * 60}, "event": "end"}}',
    ]
    return play_record(tmp_path, "\n".join(lines) + "\n", rules)


def test_a_bp_in_the_clinics_window_fills_the_40_minute_field(tmp_path: Path) -> None:
    bps = tuple(m * 60 for m in (10, 20, 32, 52, 62, 72, 82, 92, 102, 112, 121))
    rec = _record(tmp_path, (30, 45), bps)
    # The engine counted the BP at 32 min: no alarm.
    assert not [a for a in rec.alerts if a.rule == "session.check_missed"]
    post = rec.rems_field("post_dose_40min")
    assert post.reading is not None and post.reading.t == DOSE + 32 * 60, form(rec)[
        "post_dose_40min"
    ]
    assert "within 30-45 min" in post.rule, post.rule
    assert not [g for g in gap_lines(rec) if "check_missed" in g], gap_lines(rec)


def test_the_missed_check_is_the_alarms_window(tmp_path: Path) -> None:
    bps = tuple(m * 60 for m in (10, 20, 30, 37, 65, 75, 85, 95, 105, 115, 121))
    rec = _record(tmp_path, (40, 55), (*bps[:4], 55 * 60 + 3, *bps[4:]))
    assert [a.event for a in rec.alerts if a.rule == "session.check_missed"] == [
        "raised",
        "cleared",
    ]
    post = rec.rems_field("post_dose_40min")
    # The BP at 37 min is outside the clinic's 40-55 min: the alarm said the check was
    # missed, and the field says so too.
    assert post.reading is None, form(rec)["post_dose_40min"]
    assert post.missing_reason == "no valid BP 40-55 min after the dose"
    (gap,) = [g for g in gap_lines(rec) if "check_missed" in g]
    at = f"{fmt_t(rec, DOSE + 40 * 60)}-{fmt_t(rec, DOSE + 55 * 60)} check_missed"
    assert gap.startswith(at), gap
    # Minutes from the dose never read inside the window that left a reading out: the BP
    # 55 min 03 s after the dose reads +55.1 (as 50 min 03 s does with the default).
    rows = [r["min_from_dose"] for r in vitals_rows(rec) if r["sys_mmHg"]]
    assert "+55.1" in rows and "+55.0" not in rows, rows
