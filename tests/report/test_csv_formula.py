"""A name typed at the station lands in the events CSV's `by` column (who started, dosed
or ended the session, who acknowledged an alarm). One starting with "=" was written as
typed, and a spreadsheet opening the CSV ran it as a formula ("CSV injection"): such a
cell now starts with "'" (OWASP), shown as the text typed. The HTML escapes it already."""

from __future__ import annotations

import csv
from pathlib import Path

from monitord.report.render import write_csvs

from .test_form_header import _record

EVIL = '=HYPERLINK("http://127.0.0.1/x","click")'


def test_a_name_that_reads_as_a_formula_is_text_in_the_events_csv(tmp_path: Path) -> None:
    rec = _record(
        tmp_path,
        [
            {"t": 0, "event": "session_start", "protocol": "esketamine"},
            {"t": 60, "event": "bp", "sys": 128, "dia": 80},
            {"t": 900, "event": "dose_start"},
            {"t": 1200, "event": "dose_end"},
            {"t": 1300, "event": "bp", "sys": 205, "dia": 100},
            {"t": 1310, "event": "ack", "rule": "bp.crisis", "by": "@SUM(1+1)"},
            {"t": 9000, "event": "session_end"},
            {"t": 9000, "event": "end"},
        ],
        {"dose_start": {"by": EVIL}, "end": {"by": "nurse-b"}},
    )
    vitals, events = tmp_path / "v.csv", tmp_path / "e.csv"
    write_csvs(rec, vitals, events)
    with events.open(newline="", encoding="utf-8") as fh:
        by = {(r["name"], r["event"]): r["by"] for r in csv.DictReader(fh) if r["by"]}
    assert by[("esketamine", "dose_start")] == "'" + EVIL, by
    assert by[("bp.crisis", "acknowledged")] == "'@SUM(1+1)", by
    # A plain name stays as typed.
    assert by[("esketamine", "end")] == "nurse-b", by
