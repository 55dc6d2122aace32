"""Render the example images of docs/report.md from the test scenario
tests/report/cases/complete_session.jsonl (no patient data): the PDF's first page with
pdftoppm at 80 dpi, and the HTML in headless Chromium at 1100 x 1500 (the sizes the
committed images have always had). Run it again when the report's page changes:

    .venv/bin/python -m tests.report.examples docs/

then look at both images before committing them."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.report.render import write_all

from .storeplay import play_into_store
from .test_render import _chromium

CASE = Path(__file__).resolve().parent / "cases" / "complete_session.jsonl"


def render_examples(out: Path) -> tuple[Path, Path]:
    """Writes report-example-page1.png and report-example-html.png into `out`."""
    out = out.resolve()  # Chromium runs in the scratch directory: no relative path
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "outbox.sqlite"
        play_into_store(CASE, db)
        with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
            (span,) = session_spans(ob)
            rec = record_for(ob, span)
        pdf, html, *_ = write_all(rec, work / "report")
        page1 = out / "report-example-page1.png"
        subprocess.run(
            [
                *("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"),
                str(pdf),
                str(page1.with_suffix("")),  # pdftoppm adds the .png
            ],
            check=True,
            timeout=60,
        )
        shot = out / "report-example-html.png"
        r = _chromium(
            ["--hide-scrollbars", f"--screenshot={shot}", "--window-size=1100,1500", html.as_uri()],
            work,
        )
        r.check_returncode()
    return page1, shot


if __name__ == "__main__":
    for p in render_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(p)
