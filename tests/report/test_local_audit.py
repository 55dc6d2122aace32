"""Issue 18 acceptance 1: a session across local midnight in America/New_York, played
into a real store, is listed and titled by its local date; its monitoring time runs from
dose start to session end; the alarm audit shows its unacknowledged `bp.crisis` at the
top; and with 200 escalations of that crisis and 40 other episodes the PDF cuts nothing
(`pdftotext` of the real `monitord report` output holds every episode).

The scenario is written here, line by line, so its numbers can be read off: session
start 23:30 EDT on 2024-05-06 (03:30 UTC on 05-07), dose 23:40, a crisis 210/100 at
+10 min that nobody acknowledges (high: escalates every 120 s), a normal BP every 10 min,
40 SpO2 dips to 86 % (each one `spo2.low` episode), session end 200 escalations later.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import SessionRecord, record_for, session_spans
from monitord.report.render import events_rows
from monitord.report.text import fmt_t
from tests.servers import json_float

from .storeplay import play_into_store
from .test_render import assert_nontrivial

TZ = "America/New_York"
T0 = 1715052600.0  # 2024-05-07T03:30:00Z = 2024-05-06 23:30 EDT
DOSE, CRISIS, END = 600, 1200, 1200 + 200 * 120 + 60
DIPS = [1500 + k * 600 for k in range(40)]


def scenario() -> list[dict[str, object]]:
    ev: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine"},
        {"t": 60, "event": "bp", "sys": 128, "dia": 80},
        {"t": 300, "event": "bp", "sys": 130, "dia": 82},
        {"t": DOSE, "event": "dose_start"},
        {"t": 900, "event": "dose_end"},
        {"t": CRISIS, "event": "bp", "sys": 210, "dia": 100},
    ]
    ev += [{"t": t, "event": "bp", "sys": 130, "dia": 82} for t in range(1800, END, 600)]
    for d in DIPS:
        ev += [{"t": d + s, "event": "spo2", "spo2": 86} for s in range(0, 25, 5)]
        ev += [{"t": d + s, "event": "spo2", "spo2": 95} for s in range(25, 65, 5)]
    ev.sort(key=lambda e: json_float(e["t"]))
    ev += [{"t": END, "event": "session_end"}, {"t": END, "event": "end"}]
    return ev


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("night")
    sc = d / "night.jsonl"
    sc.write_text("".join(json.dumps(e) + "\n" for e in scenario()))
    db = d / "outbox.sqlite"
    play_into_store(
        sc,
        db,
        T0,
        {
            "start": {"by": "nurse-a"},
            "dose_start": {"by": "nurse-a", "dose_mg": 84.0, "lot": "LOT-2024-17"},
            "end": {"by": "nurse-b"},
        },
    )
    cfg = d / "monitord.toml"
    cfg.write_text(
        f'[site]\nid = "clinic-east"\ntimezone = "{TZ}"\n'
        f'[storage]\npath = "{db}"\n[[chairs]]\nid = "chair-1"\n'
    )
    return db, cfg


@pytest.fixture(scope="module")
def rec(night: tuple[Path, Path]) -> SessionRecord:
    db, _ = night
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span, TZ)


def _report(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # Run as on the clinic's machine, in the config's zone: on another, the report says
    # the zone is not the machine's (one line on stderr, docs/report.md).
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TZ": TZ},
    )


def test_listed_and_selected_by_local_date(night: tuple[Path, Path], rec: SessionRecord) -> None:
    _, cfg = night
    r = _report("--list", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"chair-1\t2024-05-06 23:30 EDT\tesketamine\t{rec.session_id}\tmet"
    ]
    # --date is the local day: 05-06 in New York, although it was 05-07 in UTC.
    r = _report("--list", "-c", cfg, "--date", "2024-05-06")
    assert r.returncode == 0 and rec.session_id in r.stdout, r.stderr
    r = _report("--list", "--config", cfg, "--date", "2024-05-07")
    assert r.returncode == 66
    assert r.stderr.strip() == (
        "monitord report: no session on any chair started on 2024-05-07 (America/New_York)"
    )


def test_titled_by_local_date_and_monitoring_time_from_dose(rec: SessionRecord) -> None:
    from monitord.report.text import form_lines

    form = {fl.key: fl.value for fl in form_lines(rec)}
    assert form["treatment_date"] == "2024-05-06 (EDT, America/New_York)"
    assert form["dose_start"] == "23:40:00"
    assert form["session_end"] == "05-07 06:31:00 by nurse-b"  # after local midnight
    assert form["dose"] == "84 mg, lot LOT-2024-17, given by nurse-a"
    assert rec.monitoring_s == END - DOSE
    assert form["monitoring_time"].startswith("6 h 51 min (411.0 min; dose start 23:40:00")
    # SpO2 summary: 40 dips, each 86 % for the 25 s until the first 95 % sample.
    assert (rec.spo2.min_pct, rec.spo2.below_s) == (86.0, 40 * 25.0)


def test_audit_unacknowledged_crisis_first(rec: SessionRecord) -> None:
    top, *rest = rec.episodes
    assert (top.rule, top.priority, top.raised_t) == ("bp.crisis", "high", T0 + CRISIS)
    assert top.active_at_end and top.ack_t is None
    assert top.escalations == 200 and top.max_level == 200
    assert [e.rule for e in rest] == ["spo2.low"] * 40
    assert [e.raised_t - T0 for e in rest] == [d + 15 for d in DIPS]
    assert all(e.cleared_t is not None and e.escalations == 0 for e in rest)


def test_pdf_of_200_escalations_holds_every_episode(
    night: tuple[Path, Path], rec: SessionRecord, tmp_path: Path
) -> None:
    _, cfg = night
    r = _report("-c", cfg, "--session", rec.session_id, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    pdf = Path(r.stdout.split()[0])
    assert pdf.suffix == ".pdf"
    tool = shutil.which("pdftotext")
    assert tool is not None, "pdftotext not found: install the Debian package poppler-utils"
    text = subprocess.run(
        [tool, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Spravato REMS" in text and "Treatment date" in text
    assert "2024-05-06 (EDT, America/New_York)" in text
    assert "more in the HTML" not in text and "..." not in text
    audit = text[text.index("Alarm audit") :]
    head = r"Alarm audit \(41 episodes, 1 still active at session end, 200 escalations"
    assert re.search(head, audit)
    lines = audit.splitlines()
    # Every episode has its line: raise time and rule; the crisis first, in red words.
    rows = [
        i
        for e in rec.episodes
        for i, ln in enumerate(lines)
        if re.search(rf"{re.escape(fmt_t(rec, e.raised_t))}\s+{re.escape(e.rule)}\b", ln)
    ]
    assert len(rows) == len(rec.episodes) == 41
    assert rows == sorted(rows)  # in the audit's order: the crisis at the top
    crisis = lines[rows[0]]
    assert "bp.crisis" in crisis and "NOT ACKED" in crisis and "ACTIVE AT END" in crisis
    assert "200 (lvl 200)" in crisis
    # The message of every episode is there whole (wrapped, never cut).
    assert "BP 210/100" in audit
    # Escalations are counted, not listed: the event timeline has no escalated line.
    timeline = text[text.index("Alert events") :]
    assert " escalated " not in timeline
    # Every page rendered (pdftoppm) is a real page: none blank, none overfull.
    subprocess.run(
        [shutil.which("pdftoppm") or "pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    pages = sorted(tmp_path.glob("p-*.png"))
    # 3: the 41 stretches between the SpO2 bursts are one gap line (they were 41 lines
    # and a fourth page), its count and total exact (the SpO2 line's missing minutes).
    assert len(pages) == 3
    (burst,) = [g for g in rec.gaps if g.what == "no_spo2"]
    assert len(burst.stretches) == 41
    missing = sum(b - a for a, b in burst.stretches)
    assert missing == rec.spo2.span_s - rec.spo2.covered_s == 19860.0  # 5 h 31 min
    flat = " ".join(text.split())  # the PDF wraps the line
    assert "no valid SpO2 for 5 h 31 min in 41 stretches between" in flat
    for png in pages:
        assert_nontrivial(png, min_colours=8)


def test_events_csv_has_a_gap_row_per_stretch_without_spo2(rec: SessionRecord) -> None:
    # The printed form merges the 41 stretches into one line; the CSV is for a
    # spreadsheet: a row per stretch, each bounding only what was missing (one row
    # from the first stretch's start to the last's end held 6 h 51 min, the bursts too).
    rows = [r for r in events_rows(rec) if r["source"] == "gap" and r["name"] == "no_spo2"]
    assert len(rows) == 41, rows[:3]
    total = sum(
        (datetime.fromisoformat(r["event"]) - datetime.fromisoformat(r["time_utc"])).total_seconds()
        for r in rows
    )
    assert total == rec.spo2.span_s - rec.spo2.covered_s == 19860.0
