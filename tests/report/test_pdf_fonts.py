"""A name on the PDF in a script its own fonts (DejaVu) lack (docs/report.md, "ID.pdf"):
a nurse's name is free text (station `name`, a command's `by`), and a clinic in Tokyo
files "given by 佐藤 花子". It was drawn as four empty boxes with nothing said: the filed
form no longer told who gave the dose. It is drawn in an installed font that has it
(the test machine's fonts-wqy-zenhei, scripts/setup.sh); a character no installed font
has (an Egyptian hieroglyph here) is written as <U+XXXX>, and stderr says which and the fix.
Read back from the PDF itself: the fonts embedded (pdffonts) and its text (pdftotext)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.report.render import write_all

from .storeplay import play_into_store

T0 = 1715053800.0  # 2024-05-07T03:50:00Z = 12:50 JST
NURSE = "佐藤 花子"
NOWHERE = "\U00013000"  # EGYPTIAN HIEROGLYPH A001: in none of the machine's fonts


REPORT = [sys.executable, "-m", "monitord", "report"]
CHAIR_DAY = ["--chair", "chair-1", "--date", "2024-05-07"]  # T0's session


def _store(tmp_path: Path, dose_by: str, end_by: str) -> Path:
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    events = [
        {"t": 0, "event": "session_start", "protocol": "esketamine"},
        {"t": 60, "event": "bp", "sys": 128, "dia": 80},
        {"t": 900, "event": "dose_start"},
        {"t": 1200, "event": "dose_end"},
        {"t": 8400, "event": "session_end"},
        {"t": 8400, "event": "end"},
    ]
    scen.write_text("".join(json.dumps(e) + "\n" for e in events))
    fields: dict[str, dict[str, Any]] = {
        "dose_start": {"by": dose_by, "dose_mg": 56.0, "lot": "L1"},
        "end": {"by": end_by},
    }
    play_into_store(scen, db, t0=T0, session_fields=fields)
    return db


def _pdf(tmp_path: Path, dose_by: str, end_by: str) -> Path:
    db = _store(tmp_path, dose_by, end_by)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        rec = record_for(ob, span, "Asia/Tokyo")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        pdf, *_ = write_all(rec, tmp_path / "out")
    # matplotlib's own word for a box drawn in place of a character
    assert not [w for w in said if "missing from font" in str(w.message)]
    return pdf


def _run(tool: str, *args: str) -> str:
    exe = shutil.which(tool)
    assert exe is not None, f"{tool} not installed (poppler-utils: scripts/setup.sh test)"
    return subprocess.run([exe, *args], capture_output=True, text=True, check=True).stdout


def _page1(pdf: Path) -> str:
    """Page 1's text, each line's runs of spaces one space (-layout keeps a line a line:
    without it pdftotext moved the name, in another font, away from its field)."""
    text = _run("pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-")
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def test_a_japanese_name_is_drawn_in_a_font_that_has_it(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path, NURSE, "nurse-b")
    assert f"given by {NURSE}\n" in _page1(pdf)
    fonts = _run("pdffonts", str(pdf))
    # Before: DejaVu only, the name's glyphs the font's empty box.
    assert "WenQuanYi" in fonts, fonts


def test_a_character_no_font_has_is_written_as_its_code_point_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = _pdf(tmp_path, NURSE, f"Jürgen {NOWHERE}")
    text = _page1(pdf)
    assert "by Jürgen <U+13000>\n" in text
    assert f"given by {NURSE}\n" in text
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"monitord report: {pdf.name}: no font on this machine has {NOWHERE}:")
    assert "fonts-noto-cjk" in err[0]
    # The HTML and the events CSV keep the name as written.
    html = pdf.with_suffix(".html").read_text(encoding="utf-8")
    assert f"Jürgen {NOWHERE}" in html


def test_a_long_name_in_wide_characters_wraps_inside_the_page(tmp_path: Path) -> None:
    # 64 characters, the longest `by`: wrapped as 64 columns of DejaVu Sans Mono, the line
    # ran about 100 pt past the A4 page's right edge, the name's end cut off the form.
    name = "佐藤花子" * 16
    pdf = _pdf(tmp_path, name, "nurse-b")
    bbox = _run("pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-")
    page = re.search(r'<page width="([\d.]+)"', bbox)
    assert page is not None, bbox[:300]
    words = re.findall(
        r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" [^>]*>([^<]*)</word>', bbox
    )
    assert words
    right = float(page.group(1)) - 10  # inside the page, not on its edge
    assert [w for x, w in words if float(x) > right] == []
    assert name in "".join(w for _, w in words if "佐" in w or "子" in w)


def test_the_report_says_nothing_of_the_font_it_found(tmp_path: Path) -> None:
    # matplotlib's "findfont: Failed to find font weight normal for WenQuanYi Zen Hei, now
    # using 500." came on stderr under every report with a Japanese name: a line saying a
    # font search failed when the name was drawn, the one stderr line a report may have
    # (a character no font has) no longer the only one.
    db = _store(tmp_path, NURSE, "nurse-b")
    r = subprocess.run(
        [*REPORT, "--db", str(db), "--out", str(tmp_path / "o"), *CHAIR_DAY],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "UTC"},  # no word of the machine's zone (report --db)
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    (pdf,) = (Path(p) for p in r.stdout.split() if p.endswith(".pdf"))
    assert f"given by {NURSE}\n" in _page1(pdf)


# Found by hand following a command's `by` to every place it goes, 2026-12-05: a `by`
# (or `lot`) is free text from a station's command, and cmd/ack and cmd/session take
# control characters in it. Drawn in the PDF each was a glyph no font has (matplotlib's
# "Glyph 27 missing from font(s)" warnings on the report's stderr), a line break split the
# audit table's row, and a NUL was taken for the wrap's pad and dropped from the name.
ODD = "nurse\x00b\x1b[2J\tc\nd\x7f"


def test_control_characters_in_a_name_are_written_as_escapes_in_the_pdf(
    tmp_path: Path,
) -> None:
    pdf = _pdf(tmp_path, ODD, ODD)
    text = _page1(pdf)
    shown = "nurse\\x00b\\x1b[2J\\tc | d\\x7f"
    assert f"given by {shown}\n" in text, text
    # The HTML keeps the name as written (escaped for HTML only).
    assert "nurse\x00b\x1b[2J" in pdf.with_suffix(".html").read_text(encoding="utf-8")
