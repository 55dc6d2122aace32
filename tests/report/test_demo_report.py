"""`monitord demo` ends with a report per simulated session (issue 9). Runs the real demo
command (offline, fast clock) in a scratch directory."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

# This checkout's monitord, not the one the venv has installed (editable from another
# checkout: cwd is tmp_path, so `-m monitord` would import that one).
CHECKOUT = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_demo_writes_a_report_per_session(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "demo", "--offline", "--speed", "2000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=CHECKOUT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [
        ln.removeprefix("monitord demo: report ")
        for ln in r.stdout.splitlines()
        if ln.startswith("monitord demo: report ")
    ]
    paths = sorted(Path(p) for p in lines)
    # Two simulated chairs, one session each: PDF, HTML and the two CSVs for each.
    assert len(paths) == 8, r.stdout[-2000:]
    # Next to the demo's store (var/demo-outbox.sqlite): var/reports/.
    assert {p.parent for p in paths} == {Path("var/reports")}
    for p in paths:
        assert (tmp_path / p).stat().st_size > 1000
    protocols = set()
    for c in (tmp_path / p for p in paths if p.name.endswith("-events.csv")):
        rows = list(csv.DictReader(c.open()))
        fields = {r["name"]: r["detail"] for r in rows if r["source"] == "form"}
        protocols.add(fields["protocol"])
        vitals = c.with_name(c.name.removesuffix("-events.csv") + ".csv")
        assert len(list(csv.DictReader(vitals.open()))) > 10
    assert protocols == {"esketamine", "iv-ketamine"}


def test_demo_reports_that_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    # var/reports a file: the demo's CannotWrite from write_reports was a traceback.
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "reports").write_text("not a folder\n")
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "demo", "--offline", "--speed", "2000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=CHECKOUT,
    )
    assert r.returncode == 73, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    (line,) = [ln for ln in r.stderr.splitlines() if "reports not written" in ln]
    assert line.startswith("monitord demo: reports not written: --out var/reports"), line
