"""What docs/report.md quotes of the program is the program's: the CSV columns and the
one line a Pi without the PDF renderer prints (fast: no report is made)."""

from __future__ import annotations

import re
from pathlib import Path

from monitord.commands.report import NO_PDF_NOTICE
from monitord.report.render import EVENTS_COLUMNS, VITALS_COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"
TEXT = re.sub(r"\s+", " ", DOC.read_text())


def test_csv_columns_as_quoted() -> None:
    assert f"`ID.csv`, one row per time: `{', '.join(VITALS_COLUMNS)}`" in TEXT
    assert f"`ID-events.csv`: `{', '.join(EVENTS_COLUMNS)}`" in TEXT


def test_no_pdf_line_as_quoted() -> None:
    assert f" {NO_PDF_NOTICE} " in TEXT
