"""Acceptance 2 of issue 9: the PDF renders (pdftoppm, Debian poppler-utils) to a
non-trivial single A4 page, and the HTML renders in headless Chromium (Debian chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from monitord.report import SessionRecord
from monitord.report.render import write_all


def _tool(name: str, deb: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package {deb}", pytrace=False)
    return path


def assert_nontrivial(png: Path, min_colours: int) -> None:
    img = mpimg.imread(png)
    rgb = (np.asarray(img)[..., :3] * 255).round().astype(np.uint8)
    h, w = rgb.shape[:2]
    assert h > 300 and w > 300, (h, w)
    # Each colour as one 24-bit number (a one-to-one key, so the same count): a row-wise
    # np.unique(axis=0) sorted the pixels as rows and took ~1-2 s an image.
    key = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    colours = np.unique(key)
    assert len(colours) >= min_colours, f"{png}: only {len(colours)} colours"
    inked = float((rgb.min(axis=2) < 200).mean())
    assert 0.02 < inked < 0.9, f"{png}: {inked:.3f} of the pixels inked"


@pytest.mark.parametrize("which", ["complete", "open_session"])
def test_pdf_is_nontrivial_a4_pages(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    rec: SessionRecord = request.getfixturevalue(which)
    pdf, *_ = write_all(rec, tmp_path)
    info = subprocess.run(
        [_tool("pdfinfo", "poppler-utils"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    # The form on page 1, the audit and lists continue on page 2 (issue 18: nothing cut).
    assert re.search(r"^Pages:\s+2$", info, re.M), info
    assert "595.44 x 841.68 pts" in info or "(A4)" in info, info
    subprocess.run(
        [_tool("pdftoppm", "poppler-utils"), "-png", "-r", "60", str(pdf), str(tmp_path / "p")],
        check=True,
        timeout=30,
    )
    pngs = sorted(tmp_path.glob("p*.png"))
    assert len(pngs) == 2
    assert_nontrivial(pngs[0], min_colours=40)
    # The words on the page (poppler's text layer): REMS fields and the hand-written field.
    text = subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in (
        "Pre-dose BP",
        "BP ~40 min post-dose",
        "BP at end of monitoring",
        "Total monitoring time",
        "Patient reference",
        rec.session_id,
    ):
        assert word in text
    if which == "open_session":
        assert "MISSING (session not ended)" in text
        assert "Gaps and missing data (6)" in text
    else:
        assert "168/100 mmHg" in text and "2 h 01 min (121.6 min" in text


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("chromium", "chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chrome-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_html_renders_in_headless_chromium(complete: SessionRecord, tmp_path: Path) -> None:
    _, html, *_ = write_all(complete, tmp_path)
    shot = tmp_path / "shot.png"
    r = _chromium([f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri()], tmp_path)
    assert shot.exists(), r.stderr[-2000:]
    assert_nontrivial(shot, min_colours=40)
    # The DOM as Chromium parsed it: the inline SVG chart and the REMS fields are there.
    dom = _chromium(["--dump-dom", html.as_uri()], tmp_path).stdout
    assert "<svg" in dom and 'id="f-pre_dose"' in dom
    assert "130/80 mmHg (MAP 97)" in dom
    assert "168/100 mmHg (MAP 123)" in dom
    assert 'id="patient-ref"' in dom


def test_committed_examples_are_real_renderings() -> None:
    """docs/report.md shows one PDF page (pdftoppm) and one HTML screenshot (Chromium)."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    assert_nontrivial(docs / "report-example-page1.png", min_colours=40)
    assert_nontrivial(docs / "report-example-html.png", min_colours=40)
    text = (docs / "report.md").read_text()
    assert "report-example-page1.png" in text and "report-example-html.png" in text


def test_iv_ketamine_pdf_has_no_rems_wording(tmp_path: Path) -> None:
    """Issue 18 acceptance 3 on the rendered page: an IV-ketamine session's PDF is a
    monitoring record, without REMS wording and without a missing-40-min flag."""
    from monitord.models import Kind, Reading, SessionEvent, utc
    from monitord.report import build_record

    t0 = 1714986000.0
    sess = [
        SessionEvent(t0 + t, "chair-2", a, "iv-ketamine", "s-iv")
        for t, a in ((0, "start"), (600, "dose_start"), (3000, "dose_end"), (7000, "end"))
    ]
    bps = [
        Reading(
            "chair-2",
            "cuff",
            Kind.BP,
            {"sys_mmHg": 124.0 + i, "dia_mmHg": 80.0, "map_mmHg": None, "pulse_bpm": 70.0},
            utc(t0 + t),
            utc(t0 + t),
        )
        for i, t in enumerate((300, 540, 1500, 4200, 6900))
    ]
    pdf, *_ = write_all(build_record(bps, [], sess, "Europe/Berlin"), tmp_path)
    text = subprocess.run(
        [_tool("pdftotext", "poppler-utils"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Session monitoring record (iv-ketamine)" in text
    assert "REMS" not in text and "Spravato" not in text
    assert "not recorded (not required for iv-ketamine)" in text
    assert "no valid BP 35-50" not in text and "check_missed" not in text
    assert "Treatment date:" in text and "2024-05-06 (CEST, Europe/Berlin)" in text
    # BP at end of monitoring: the last after the dose (6900 s), 128/80 at 12:55 CEST.
    assert re.search(r"BP at end of monitoring:\s+128/80 mmHg, pulse 70 at 12:55:00", text)
