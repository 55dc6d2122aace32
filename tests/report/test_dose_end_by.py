"""Who ended the dose: the station sends `by` with `dose_end` as with every session
command (protocols.md cmd/session), and the report named the nurses of start, dose start
and end but wrote the `dose_end` row of the events CSV with an empty `by` and the form's
Dose end with the time alone. Played through the real engine into a real store
(storeplay.py), read back as `monitord report` reads it."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import SessionRecord, record_for, session_spans
from monitord.report.render import render_html, write_csvs

from .reportkit import form
from .storeplay import play_into_store

EVENTS = [
    {"t": 0, "event": "session_start", "protocol": "iv-ketamine"},
    {"t": 60, "event": "bp", "sys": 128, "dia": 80},
    {"t": 300, "event": "dose_start"},
    {"t": 2700, "event": "dose_end"},
    {"t": 2700 + 3900, "event": "session_end"},
    {"t": 2700 + 3900, "event": "end"},
]


def _record(tmp_path: Path, by: dict[str, str]) -> SessionRecord:
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    scen.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    fields = {action: {"by": name} for action, name in by.items()}
    play_into_store(scen, db, session_fields=fields)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span)


def test_the_nurse_who_ended_the_dose_is_named_in_the_events_csv_and_the_form(
    tmp_path: Path,
) -> None:
    rec = _record(
        tmp_path,
        {"start": "nurse-a", "dose_start": "nurse-b", "dose_end": "nurse-c", "end": "nurse-d"},
    )
    vitals, events = tmp_path / "v.csv", tmp_path / "e.csv"
    write_csvs(rec, vitals, events)
    with events.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "session"]
    assert [(r["event"], r["by"]) for r in rows] == [
        ("start", "nurse-a"),
        ("dose_start", "nurse-b"),
        ("dose_end", "nurse-c"),
        ("end", "nurse-d"),
    ]
    assert form(rec)["dose_end"].endswith(" by nurse-c")
    page = render_html(rec)
    assert html.escape(form(rec)["dose_end"]) in page


def test_a_dose_end_sent_without_a_name_names_nobody(tmp_path: Path) -> None:
    rec = _record(tmp_path, {"end": "nurse-d"})
    vitals, events = tmp_path / "v.csv", tmp_path / "e.csv"
    write_csvs(rec, vitals, events)
    with events.open(newline="", encoding="utf-8") as fh:
        (row,) = [r for r in csv.DictReader(fh) if r["event"] == "dose_end"]
    assert row["by"] == ""
    assert " by " not in form(rec)["dose_end"]
