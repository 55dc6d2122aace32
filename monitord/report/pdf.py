"""The PDF of a session record (A4, as many pages as it needs), drawn with matplotlib.

Nothing is cut: every text line wraps at the page width (monospace, so the width is
exact), and the audit, gaps and event lists continue on following pages, each opening
with the section's heading "(continued)" and a table's column header. Page 1 holds the
form (header, chart, fields, boxes to tick, signature); then the alarm audit (what was
still active at session end first), gaps, stored records and the event timeline
(escalations counted in the audit, not listed: each is in the events CSV).

matplotlib is the optional `report` extra: `render.write_all` falls back to HTML/CSV
with a one-line notice when it is absent (docs/report.md, "The PDF renderer").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from monitord import __version__
from monitord.report import chart
from monitord.report.lists import (
    audit_header,
    audit_row,
    audit_title,
    event_line,
    gap_lines,
    gaps_title,
    stored_lines,
)
from monitord.report.pdffonts import fit_fonts, visible, wrap
from monitord.report.record import SessionRecord
from monitord.report.text import (
    CLINICAL_BOXES,
    PATIENT_REF_LABEL,
    SIGNATURE_LINES,
    fmt_tz,
    form_lines,
    title,
)

A4_IN = (8.27, 11.69)
LEFT, TOP, BOTTOM = 0.06, 0.965, 0.045
MONO_PT = 6.8
# DejaVu Sans Mono advances 0.602 em: at 6.8 pt across 88 % of 8.27 in that is
# 0.88 * 8.27 * 72 / (0.602 * 6.8) = 128 characters; 124 leaves a margin.
WRAP = 124
LINE = 0.0118  # figure fraction per monospace line
RED = "#b00000"


@dataclass
class _Page:
    ops: list[tuple[float, float, str, dict[str, Any]]] = field(default_factory=list)
    chart: bool = False


_Op = tuple[float, float, str, dict[str, Any]]  # x, height, text, text keywords


class _Flow:
    """Text flowing down A4 pages: each `line` goes below the last, a new page when full.

    A section that runs onto a new page starts that page again with its heading marked
    "(continued)" and a table's column header (`repeat`): a printed page 2 is filed and
    read on its own, and rows without their header are unlabelled numbers."""

    def __init__(self, first_y: float) -> None:
        self.pages: list[_Page] = [_Page(chart=True)]
        self.y = first_y
        self.repeat: list[_Op] = []

    def need(self, h: float) -> None:
        if self.y - h < BOTTOM:
            self.pages.append(_Page())
            self.y = TOP
            for x, rh, s, kw in self.repeat:
                self.y -= rh
                self.pages[-1].ops.append((x, self.y, s, kw))

    def text(self, x: float, s: str, h: float = LINE, **kw: Any) -> None:
        self.need(h)
        self.y -= h
        self.pages[-1].ops.append((x, self.y, s, kw))

    def block(self, lines: list[_Op]) -> None:
        """Lines kept on one page (a wrapped line, a table row), unless longer than a page."""
        self.need(sum(h for _, h, _, _ in lines))
        for x, h, s, kw in lines:
            self.text(x, s, h, **kw)

    def mono(self, s: str, indent: int = 0, hang: int = 4, **kw: Any) -> None:
        """One logical line, wrapped (continuation lines indented by `hang`); never cut."""
        chunks = wrap(
            s,
            WRAP - indent,
            subsequent_indent=" " * hang,
            break_long_words=True,
            break_on_hyphens=False,
        ) or [""]
        kw = {"family": "monospace", "size": MONO_PT, **kw}
        self.block([(LEFT + 0.01, LINE, " " * indent + c, kw) for c in chunks])

    def heading(self, s: str, short: str | None = None, **kw: Any) -> None:
        """`short`: the heading repeated with "(continued)" (default: `s` up to " (")."""
        self.repeat = []  # the section before ends here: not repeated over this one
        self.need(0.05)  # a heading never sits alone at the foot of a page
        self.y -= 0.008
        kw = {"size": 9, "weight": "bold", **kw}
        self.text(LEFT, s, h=0.016, **kw)
        cont = f"{short or s.split(' (')[0]} (continued)"
        self.repeat = [(LEFT, 0.016, cont, kw)]


def _table(flow: _Flow, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Fixed-width columns; the last column (message) wraps under itself. The column
    header is repeated at the top of each page the table continues on."""
    rows = [tuple(visible(c) for c in r) for r in rows]  # padded by what is drawn
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:-1])]
    widths = [min(w, 24) for w in widths]
    lead = sum(w + 1 for w in widths)
    room = max(WRAP - lead, 30)

    def fmt(cells: tuple[str, ...], bold: bool = False, colour: str = "black") -> list[_Op]:
        first = " ".join(
            c[:w].ljust(w) if len(c) <= w else c for c, w in zip(cells, widths, strict=False)
        )
        # A cell wider than its column (rare: a long rule id) pushes the rest right;
        # the wrap below still keeps every character.
        msg = wrap(cells[-1], room, break_long_words=True) or [""]
        line = first + " " + msg[0]
        kw = {"family": "monospace", "size": MONO_PT, "color": colour}
        parts = wrap(line, WRAP, break_long_words=True, subsequent_indent=" " * lead)
        out = [
            (LEFT + 0.01, LINE, p, {**kw, "weight": "bold" if bold else "normal"}) for p in parts
        ]
        return out + [(LEFT + 0.01, LINE, " " * lead + m, kw) for m in msg[1:]]

    head = fmt(header, bold=True)
    flow.block(head)
    flow.repeat = flow.repeat + head
    for r in rows:
        flow.block(
            fmt(r, colour=RED if r[5] == "ACTIVE AT END" or r[3] == "NOT ACKED" else "black")
        )


def layout(rec: SessionRecord) -> list[_Page]:
    f = _Flow(0.575)
    f.heading("Monitoring form")
    for fl in form_lines(rec):
        f.mono(f"{fl.label + ':':<54}{fl.value}", hang=54, color=RED if fl.missing else "black")
    f.heading("Observed during monitoring (tick by hand)")
    for b in CLINICAL_BOXES:
        f.mono(b)
    f.text(LEFT, "", h=0.006)
    for s in SIGNATURE_LINES:
        f.text(LEFT + 0.01, s, h=0.02, size=8)

    eps = rec.episodes
    active = sum(1 for e in eps if e.active_at_end)
    f.heading(audit_title(rec), color=RED if active else "black")
    if eps:
        _table(f, audit_header(), [audit_row(rec, e) for e in eps])
    else:
        f.mono("no alarm raised")
    gl = gap_lines(rec)
    f.heading(gaps_title(rec, len(gl)), color=RED if gl else "black")
    for g in gl:
        f.mono("! " + g, color=RED)
    sl = stored_lines(rec)
    if sl:
        f.heading(f"Stored records ({len(sl)}; device memory, history, not used above)")
        for s in sl:
            f.mono(s)
    shown = [i for i, a in enumerate(rec.alerts) if a.event != "escalated"]
    f.heading(
        f"Alert events ({len(shown)} listed; {len(rec.alerts) - len(shown)} escalations "
        "counted in the audit, each in the events CSV)"
    )
    for i in shown:
        f.mono(event_line(rec, i))
    return f.pages


# Where the chart goes (figure fractions: left, bottom, width, height of the BP/HR axes and
# the SpO2 axes): on the PDF's first page, under the header, and in the HTML page's SVG.
# The legend is drawn above the BP axes, in the space left under the header.
PDF_CHART: tuple[chart.Rect, chart.Rect] = ((0.08, 0.70, 0.88, 0.20), (0.08, 0.625, 0.88, 0.06))
SVG_SIZE_IN = (10.0, 5.2)
SVG_CHART: tuple[chart.Rect, chart.Rect] = ((0.07, 0.33, 0.9, 0.6), (0.07, 0.09, 0.9, 0.19))


def _figure(rec: SessionRecord, page: _Page, n: int, total: int) -> Figure:
    fig = Figure(figsize=A4_IN)
    if page.chart:
        fig.text(LEFT, 0.965, title(rec), fontsize=12, weight="bold")
        fig.text(
            LEFT,
            0.945,
            "No patient data is held by monitord: identify the patient by hand. "
            f"Times are local ({fmt_tz(rec)}).",
            fontsize=7,
            style="italic",
        )
        fig.text(LEFT, 0.925, f"{PATIENT_REF_LABEL}: ______________________", fontsize=8)
        fig.text(0.56, 0.925, f"Chair {rec.chair}   Session {rec.session_id}", fontsize=8)
        chart.draw(fig, rec, *PDF_CHART)
    for x, y, s, kw in page.ops:
        fig.text(x, y, s, **kw)
    fig.text(
        LEFT,
        0.02,
        f"monitord {__version__}; session {rec.session_id}; times {fmt_tz(rec)}; "
        f"page {n} of {total}",
        fontsize=6,
        color="#555555",
    )
    return fig


def write_pdf(rec: SessionRecord, path: Path | IO[bytes]) -> list[str]:
    """Writes the PDF; returns the characters no installed font has, written in it as
    <U+XXXX> (pdffonts), once each in order of first use."""
    pages = layout(rec)
    lacking: list[str] = []
    with PdfPages(path) as pdf:
        for i, p in enumerate(pages, 1):
            fig = _figure(rec, p, i, len(pages))
            lacking += fit_fonts(fig)
            pdf.savefig(fig)
    return list(dict.fromkeys(lacking))


def chart_svg(rec: SessionRecord) -> str:
    import io

    fig = Figure(figsize=SVG_SIZE_IN)
    chart.draw(fig, rec, *SVG_CHART)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    # Drop the XML prolog and DOCTYPE: inline SVG in HTML starts at <svg.
    return svg[svg.index("<svg") :]
