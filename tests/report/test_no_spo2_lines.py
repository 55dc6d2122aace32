"""Stretches without valid SpO2 and no alarm (`no_spo2`) as a clinical lead reads them: a
gaps line merging several (SpO2 in bursts), its heading, its hatch on the chart and its
rows in the events CSV. Regressions found by the report audit: the chart only broke the
SpO2 line (no hatch, nothing in the legend), a merged line put its span where a single
line has the missing time, the heading counted printed lines (not gaps) and a stretch's
CSV row did not say which printed line it belonged to."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from monitord.report import SessionRecord, chart
from monitord.report.gaps import NO_SPO2_DETAIL, Gap
from monitord.report.lists import gap_lines
from monitord.report.pdf import A4_IN, PDF_CHART, write_pdf
from monitord.report.render import events_rows, render_html
from monitord.report.text import fmt_t

from .reportkit import play_record
from .test_chart_sensor_off import _hatched
from .test_spo2_coverage import DOSE, _quiet_spo2

# Three silences of 180 s every 240 s from 30 min after the dose (each stretch 125 s: the
# last sample stands 60 s; 115 s apart, so one line), and one alone at 80 min (245 s).
BURSTS = [range(DOSE + 1800 + 240 * k, DOSE + 1980 + 240 * k) for k in range(3)]
ALONE = range(DOSE + 4800, DOSE + 5100)
LABEL = "no valid SpO2 (no alarm)"


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> SessionRecord:
    text = _quiet_spo2(DOSE + 130 * 60, [*BURSTS, ALONE])
    r = play_record(tmp_path_factory.mktemp("nospo2"), text)
    quiet = [g for g in r.gaps if g.what == "no_spo2"]
    assert [len(g.stretches) for g in quiet] == [3, 1], quiet
    # One BP only, before the dose: BP overdue and the 40-minute check missed too.
    assert sorted(g.what for g in r.gaps) == ["bp_overdue", "check_missed", "no_spo2", "no_spo2"]
    return r


def _min(rec: SessionRecord, t: float) -> float:
    return round(chart.minutes(rec, t), 2)


def test_each_stretch_without_spo2_is_hatched_on_the_spo2_panel_and_named(
    rec: SessionRecord,
) -> None:
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    ax_bp, ax_spo2 = fig.axes
    want = [(_min(rec, a), _min(rec, b)) for g in rec.gaps for a, b in g.stretches]
    spans = [(a, b) for a, b, _ in _hatched(ax_spo2)]
    # Each stretch, not the merged line's span: SpO2 came between them.
    assert spans == want, f"hatched {spans}: every no_spo2 stretch {want} must be hatched"
    # HR and BP came throughout: the panel above is not hatched.
    assert _hatched(ax_bp) == []
    legend = ax_bp.get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert LABEL in names, f"legend {names}: the hatch drawn must be named"


def test_a_merged_line_gives_the_missing_time_first(rec: SessionRecord) -> None:
    merged, single = (g for g in rec.gaps if g.what == "no_spo2")
    assert merged.start is not None and merged.end is not None
    lines = [x for x in gap_lines(rec) if x.endswith("(no_spo2)")]
    # 3 x 125 s missing over a span of 605 s (the bursts of SpO2 between).
    assert lines[0] == (
        f"no valid SpO2 for 6 min 15 s in 3 stretches between {fmt_t(rec, merged.start)} "
        f"and {fmt_t(rec, merged.end)} (a span of 10 min 05 s), each less than 5 min from "
        f"the next (the longest 2 min 05 s): {NO_SPO2_DETAIL} (no_spo2)"
    ), lines[0]
    assert single.start is not None and single.end is not None
    assert lines[1] == (
        f"no valid SpO2 from {fmt_t(rec, single.start)} to {fmt_t(rec, single.end)} "
        f"(4 min 05 s): {NO_SPO2_DETAIL} (no_spo2)"
    ), lines[1]


def _pdf_text(rec: SessionRecord, tmp_path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool is not None, "pdftotext not found: install the Debian package poppler-utils"
    pdf = tmp_path / "r.pdf"
    write_pdf(rec, pdf)
    out = subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())  # a heading is one line; the text may wrap


def test_the_gaps_heading_counts_the_stretches_a_line_stands_for(
    rec: SessionRecord, tmp_path: Path
) -> None:
    # 4 printed lines for 6 gaps (the events CSV's 6 gap rows): "(4)" read as 4.
    head = "Gaps and missing data (6 gaps in 4 lines; 3 stretches without valid SpO2 in 1 line)"
    assert f"<h2>{head}</h2>" in render_html(rec), [
        x for x in render_html(rec).splitlines() if "Gaps and" in x
    ]
    assert head in _pdf_text(rec, tmp_path)
    rows = [r for r in events_rows(rec) if r["source"] == "gap"]
    assert len(rows) == 6, rows


def test_a_list_without_merged_stretches_keeps_its_plain_count(rec: SessionRecord) -> None:
    # The heading is unchanged where each line is one gap, and says none when none.
    plain = replace(rec, gaps=tuple(g for g in rec.gaps if len(g.stretches) < 2))
    assert "<h2>Gaps and missing data (3)</h2>" in render_html(plain)
    assert "<h2>Gaps and missing data (none)</h2>" in render_html(replace(rec, gaps=()))


def test_a_list_of_merged_lines_only_counts_its_stretches_once(rec: SessionRecord) -> None:
    # Every printed line a merged one: "(3 gaps in 1 line; 3 stretches without valid SpO2
    # in 1 line)" gave the count twice, as if 6 gaps (the events CSV has 3 gap rows).
    only = replace(rec, gaps=tuple(g for g in rec.gaps if len(g.stretches) > 1))
    head = "Gaps and missing data (3 stretches without valid SpO2 in 1 line)"
    assert f"<h2>{head}</h2>" in render_html(only), [
        x for x in render_html(only).splitlines() if "Gaps and" in x
    ]
    assert len([r for r in events_rows(only) if r["source"] == "gap"]) == 3


def test_each_stretch_row_names_its_printed_line(rec: SessionRecord) -> None:
    merged, single = (g for g in rec.gaps if g.what == "no_spo2")
    assert merged.start is not None
    rows = [r for r in events_rows(rec) if r["source"] == "gap" and r["name"] == "no_spo2"]
    at = fmt_t(rec, merged.start)
    assert [r["detail"] for r in rows] == [
        *(f"stretch {i} of 3 of the line from {at}: {NO_SPO2_DETAIL}" for i in (1, 2, 3)),
        single.detail,
    ], [r["detail"] for r in rows]
    # The line it names is on the form, opening with that time.
    assert any(f"between {at} and" in x for x in gap_lines(rec))


def test_a_legend_with_every_kind_of_hole_stays_on_the_page(rec: SessionRecord) -> None:
    # The no-SpO2 hatch is a ninth legend entry possible (with stored records, an invalid
    # reading and the other three holes): in one row at 6 pt its first entries ran off
    # the page's left edge (HR gone). Every entry on the page, still in one row.
    ds = rec.dose_start_t
    assert ds is not None
    bp = next(v for v in rec.vitals if v.kind == "bp")
    crowded = replace(
        rec,
        gaps=(
            *rec.gaps,
            Gap("device_lost", ds + 600, ds + 700, "device hr link down", device="hr"),
            Gap("sensor_off", ds + 900, ds + 1000, "probe off", "spo2"),
            Gap("daemon_down", ds + 2000, ds + 2100, "monitord stopped (clean stop)"),
        ),
        vitals=(
            *rec.vitals,
            replace(bp, t=ds + 300, stored=True),
            replace(bp, t=ds + 400, valid=False, reason="cuff error"),
        ),
    )
    fig = Figure(figsize=A4_IN)
    chart.draw(fig, crowded, *PDF_CHART)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert len(names) == 9 and names[0] == "HR (bpm)" and names[-1] == LABEL, names
    box = legend.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (box, fig.bbox)
    # One row: the texts side by side, none under another.
    assert len({round(t.get_window_extent().y0) for t in legend.get_texts()}) == 1
