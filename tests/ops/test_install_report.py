"""Issue 18 acceptance 4: an installed Pi can make reports. `scripts/install.sh install
--root DIR` lays monitord out as on a Pi (its own venv, no `report` extra: see
docs/report.md "The PDF renderer"); its `monitord report` on a stored session writes the
HTML and the CSVs with one line saying the PDF renderer is absent, and no traceback. With
the renderer added as docs/report.md says (`/opt/monitord/bin/pip install matplotlib`),
the same command writes the PDF too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from monitord.commands.report import NO_PDF_NOTICE
from tests.ops.conftest import Installed
from tests.report.storeplay import play_into_store

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests/report/cases"
ENV = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

# The installed tree is shared with tests/ops/test_install.py (tests/ops/conftest.py).
pytestmark = pytest.mark.xdist_group("install")


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=ENV)


def test_installed_monitord_reports_a_stored_session(installed: Installed, tmp_path: Path) -> None:
    root = installed.copy_to(tmp_path / "root")
    venv = root / "opt/monitord"
    exe = str(venv / "bin/monitord")
    assert (root / "opt/monitord/share/doc/monitord/report.md").is_file()
    # A store as the daemon leaves it in /var/lib/monitord.
    db = root / "var/lib/monitord/outbox.sqlite"
    db.parent.mkdir(parents=True)
    play_into_store(CASES / "complete_session.jsonl", db)

    # The Pi's install has no PDF renderer: HTML and CSV, one line on stderr.
    has = _run([str(venv / "bin/python"), "-c", "import matplotlib"])
    assert has.returncode != 0, "the install now ships matplotlib: update docs/report.md"
    out = tmp_path / "out"
    r = _run([exe, "report", "--db", str(db), "--session", "s-complete", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert r.stderr == NO_PDF_NOTICE + "\n"
    assert [Path(x).name for x in r.stdout.split()] == [
        "s-complete.html",
        "s-complete.csv",
        "s-complete-events.csv",
    ]
    page = (out / "s-complete.html").read_text()
    assert "168/100 mmHg (MAP 123)" in page and "Chart not drawn" in page
    lst = _run([exe, "report", "--db", str(db), "--list"])
    assert lst.returncode == 0 and "s-complete" in lst.stdout, lst.stderr

    # The renderer added as documented: the PDF is written, nothing on stderr.
    pip = _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "matplotlib>=3.7"], 600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    r = _run([exe, "report", "--db", str(db), "--session", "s-complete", "--out", str(out)])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    pdf = out / "s-complete.pdf"
    assert r.stdout.split()[0] == str(pdf) and pdf.read_bytes().startswith(b"%PDF")
