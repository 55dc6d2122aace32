"""A PDF page after the first is filed and read on its own (docs/report.md, "ID.pdf"): a
table or list that runs onto it starts it again with its heading marked "(continued)"
and, for the alarm audit, its column header; every page keeps its footer (session id,
page n of m). Regression: page 2 began with unlabelled audit rows."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from monitord.report.render import write_all

from .reportkit import play_record
from .test_render import _chromium, _tool

AUDIT_HEADER = re.compile(
    r"^\s*raised\s+rule\s+priority\s+to ack\s+ack by\s+cleared\s+escal\.\s+message\s*$", re.M
)

SECTION = re.compile(r"^(Monitoring form|Observed during|Alarm audit|Gaps and|Stored rec|Alert ev)")


def _many_alarms(cycles: int, stored: int = 0) -> str:
    """A session with `cycles` cuff errors, each cleared by a valid BP a minute later: one
    tech.bp_invalid episode each (the real engine), enough to spill the audit and lists;
    and `stored` records a cuff pushed from its memory (the stored records' list)."""
    lines = [
        '{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-many"}',
        '{"t": 60, "event": "bp", "sys": 120, "dia": 80}',
        '{"t": 300, "event": "dose_start"}',
        '{"t": 600, "event": "dose_end"}',
    ]
    lines += [
        f'{{"t": {610 + i}, "event": "bp", "sys": {130 + i}, "dia": 85, "stored": true}}'
        for i in range(stored)
    ]
    for i in range(cycles):
        t = 700 + 120 * i
        lines.append(f'{{"t": {t}, "event": "bp", "error": true}}')
        lines.append(f'{{"t": {t + 60}, "event": "bp", "sys": 122, "dia": 80}}')
    lines += ['{"t": 7700, "event": "session_end"}', '{"t": 7800, "event": "end"}']
    return "\n".join(lines) + "\n"


def _page(pdf: Path, n: int) -> str:
    return subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_table_across_pages_repeats_its_header_and_every_page_its_footer(
    tmp_path: Path,
) -> None:
    rec = play_record(tmp_path / "play", _many_alarms(40))
    invalid = [e for e in rec.episodes if e.rule == "tech.bp_invalid"]
    assert len(invalid) == 40
    pdf, *_ = write_all(rec, tmp_path)
    info = subprocess.run(
        [_tool("pdfinfo", "poppler-utils"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"^Pages:\s+(\d+)$", info, re.M)
    assert m, info
    total = int(m.group(1))
    assert total >= 3, info
    pages = [_page(pdf, n) for n in range(1, total + 1)]

    # Page 2 opens with the audit's heading, continued, and its column header.
    top = [ln.strip() for ln in pages[1].splitlines() if ln.strip()]
    assert top[0] == "Alarm audit (continued)", top[:3]
    assert AUDIT_HEADER.match(pages[1].splitlines()[1]), top[:3]
    # Every page after the first opens with a heading (a section's own, or continued);
    # the audit's column header is on the pages the audit is on, not over other lists.
    for n, text in enumerate(pages, 1):
        first = next(ln.strip() for ln in text.splitlines() if ln.strip())
        if n > 1:
            assert SECTION.match(first), (n, first)
        if AUDIT_HEADER.search(text):
            assert "Alarm audit" in text, n
        # docs/report.md: "Every page has the footer: version, session id, time zone, page
        # n of m" (a page filed alone still says which clock its times are on).
        assert f"session {rec.session_id}; times UTC;" in text, n
        assert f"page {n} of {total}" in text, n
    assert not AUDIT_HEADER.search(pages[-1])
    # Nothing cut: every audit row is printed once, on whichever page.
    rows = re.findall(r"^\s*\d\d:\d\d:\d\d tech\.bp_invalid\s+low\s", "".join(pages), re.M)
    assert len(rows) == len(invalid)


def test_the_html_printed_by_a_browser_repeats_headings_and_column_headers(
    tmp_path: Path,
) -> None:
    """The HTML is offered "for a browser or a print to PDF" (docs/report.md): printed by
    headless Chromium, every page a table or list runs onto starts with its section's
    heading and, for the alarm tables, their column header (both in the table's
    <thead>). Regressions: pages continued the alarm tables with bare rows, and the
    gaps and stored records' lists without their heading."""
    # Enough stored records that the stored list and the gaps both run onto a second
    # printed page (the page breaks move with the form's length).
    rec = play_record(tmp_path / "play", _many_alarms(50, stored=85))
    assert len(rec.stored) == 85
    paths = write_all(rec, tmp_path, pdf=False)
    html = next(p for p in paths if p.suffix == ".html")
    out = tmp_path / "printed.pdf"
    r = _chromium(["--no-pdf-header-footer", f"--print-to-pdf={out}", html.as_uri()], tmp_path)
    assert out.exists(), r.stderr[-2000:]
    info = subprocess.run(
        [_tool("pdfinfo", "poppler-utils"), str(out)], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"^Pages:\s+(\d+)$", info, re.M)
    assert m and int(m.group(1)) >= 4, info
    pages = [_page(out, n) for n in range(1, int(m.group(1)) + 1)]
    audit_rows = re.compile(r"^\s*\d\d:\d\d:\d\d\s+tech\.bp_invalid\s+low\s", re.M)
    event_rows = re.compile(r"^\s*\d\d:\d\d:\d\d\s+[-+]?\d+(\.\d+)?\s+tech\.bp_invalid\s", re.M)
    gap_rows = re.compile(r"^\s*\d\d:\d\d:\d\d invalid_bp: BP reading rejected", re.M)
    stored_rows = re.compile(r"^\s*\d\d:\d\d:\d\d bp/\S+ sys_mmHg=", re.M)
    spans = {"audit": 0, "events": 0, "gaps": 0, "stored": 0}
    for n, text in enumerate(pages, 1):
        if audit_rows.search(text):
            spans["audit"] += 1
            assert "Alarm audit (52 episodes" in text, (n, text[:400])
            assert re.search(r"raised\s+rule\s+priority", text), (n, text[:400])
        if event_rows.search(text):
            spans["events"] += 1
            assert "Alert events (106)" in text, (n, text[:400])
            assert re.search(r"min from\s+rule\s+event", text), (n, text[:400])
        if gap_rows.search(text):
            spans["gaps"] += 1
            assert "Gaps and missing data (51)" in text, (n, text[:400])
        if stored_rows.search(text):
            spans["stored"] += 1
            assert "Stored records (85)" in text, (n, text[:400])
        # A page after the first opens with a section's heading, never with bare rows.
        first = next(ln.strip() for ln in text.splitlines() if ln.strip())
        if n > 1:
            assert SECTION.match(first), (n, first)
    # The lists and the event table ran onto a second page (else the test proves
    # nothing); the audit fits the page it starts (its header: the PDF test above).
    assert spans["audit"] >= 1 and min(spans["events"], spans["gaps"], spans["stored"]) >= 2, spans


def test_the_printed_html_ends_with_the_alert_events_not_a_lone_footer(tmp_path: Path) -> None:
    """Regression: the HTML ended with a line of its own after the alert events (the
    version); printed by Chromium with 81 stored records (docs' example scenario above),
    the last page held only that line. Nothing follows the last table now, so whatever a
    browser's page breaks, the last page holds rows; the version heads the page."""
    from monitord import __version__
    from monitord.report.render import render_html

    rec = play_record(tmp_path / "play", _many_alarms(2, stored=3))
    page = render_html(rec)
    body = page[: page.rindex("</body>")]
    assert body.rstrip().endswith("</table>"), body[-300:]
    assert body.rindex("<table") == body.index('<table id="alerts"'), "the last table"
    head = page[page.index('<p class="note" id="version">') :]
    assert f"monitord {__version__}." in head[: head.index("</p>")], head[:300]
