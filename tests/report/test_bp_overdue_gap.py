"""A BP-overdue gap starts at the last valid BP (or at the dose when none came since), not
at the alarm: clinical-rules.md `tech.bp_overdue` "no valid BP for cycle + 180 s; the clock
starts at dose_start and restarts at every valid BP", so the alarm is raised a cycle +
grace (13 min by default) after the hole began. The gap list said "no BP from" the alarm's
time, 13 min later than the truth, in the HTML, the PDF and the events CSV alike; the
alarm's own time stays in the alarm audit and the event list."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from monitord.report import SessionRecord
from monitord.report.lists import event_line, gap_lines
from monitord.report.render import events_rows, render_html, write_all

from .reportkit import play_record
from .storeplay import T0

# Dose at 09:10 (600 s), then no valid BP until 09:43:20 (2600 s): the alarm at
# 09:23:00 (dose + 13 min), the hole from the dose; a BP at 09:45:00 (2700 s), none
# after it to the end at 10:05:00 (3900 s): the alarm at 09:58:00, the hole from 09:45.
SCEN = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-od"}
{"t": 60, "event": "bp", "sys": 124, "dia": 78}
{"t": 120, "event": "bp", "sys": 126, "dia": 80}
{"t": 600, "event": "dose_start"}
{"t": 900, "event": "dose_end"}
{"t": 2000, "event": "bp", "sys": 400, "dia": 80}
{"t": 2600, "event": "bp", "sys": 130, "dia": 82}
{"t": 2700, "event": "bp", "sys": 128, "dia": 80}
{"t": 3900, "event": "session_end"}
"""


def _rec(tmp_path: Path) -> SessionRecord:
    return play_record(tmp_path / "od", SCEN)


def test_overdue_gap_starts_at_the_dose_then_at_the_last_valid_bp(tmp_path: Path) -> None:
    rec = _rec(tmp_path)
    od = [
        (g.start and g.start - T0, g.end and g.end - T0) for g in rec.gaps if g.what == "bp_overdue"
    ]
    # The rejected 400/80 at 2000 s does not restart the clock; the session end leaves
    # the second open ("still open at session end", docs/report.md).
    assert od == [(600.0, 2600.0), (2700.0, None)]
    # The alarms themselves keep their time: dose + 13 min, last BP + 13 min.
    raised = [a.t - T0 for a in rec.alerts if a.rule == "tech.bp_overdue" and a.event == "raised"]
    assert raised == [1380.0, 3480.0]
    assert sorted(e.raised_t - T0 for e in rec.episodes if e.rule == "tech.bp_overdue") == raised

    lines = [x for x in gap_lines(rec) if "bp_overdue" in x]
    assert lines == [
        "09:10:00-09:43:20 bp_overdue: no valid BP since dose start; alarm tech.bp_overdue "
        "raised 13 min 00 s after it: No valid BP for 13 min (NIBP cycle 10 min + 3 min): "
        "measure BP",
        "09:45:00-still open at session end bp_overdue: no valid BP since the last valid BP; "
        "alarm tech.bp_overdue raised 13 min 00 s after it: No valid BP for 13 min "
        "(NIBP cycle 10 min + 3 min): measure BP",
    ]
    page = render_html(rec)
    for line in lines:
        assert line in page
    # The alarm's own time where alarms are listed (event list, audit).
    events = [event_line(rec, i) for i in range(len(rec.alerts))]
    assert [x[:8] for x in events if "tech.bp_overdue raised" in x] == ["09:23:00", "09:58:00"]
    assert "09:58:00" in page

    rows = [r for r in events_rows(rec) if r["source"] == "gap" and r["name"] == "bp_overdue"]
    assert [(r["time_utc"], r["time_local"], r["min_from_dose"], r["event"]) for r in rows] == [
        ("2024-05-06T09:10:00Z", "2024-05-06T09:10:00+00:00", "+0.0", "2024-05-06T09:43:20Z"),
        ("2024-05-06T09:45:00Z", "2024-05-06T09:45:00+00:00", "+35.0", ""),
    ]


def test_overdue_gap_in_the_pdf(tmp_path: Path) -> None:
    rec = _rec(tmp_path)
    pdf, *_ = write_all(rec, tmp_path / "out")
    text = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(text.split())
    assert "09:10:00-09:43:20 bp_overdue: no valid BP since dose start" in flat
    assert "09:45:00-still open at session end bp_overdue: no valid BP since the last" in flat
    assert "09:23:00-" not in flat and "09:58:00-" not in flat
