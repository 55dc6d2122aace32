"""`monitord demo` ends with a report per simulated session (issue 9). Runs the real demo
command (offline, fast clock) in a scratch directory."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path


def test_demo_writes_a_report_per_session(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "demo", "--offline", "--speed", "2000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [
        ln.removeprefix("monitord demo: report ")
        for ln in r.stdout.splitlines()
        if ln.startswith("monitord demo: report ")
    ]
    paths = sorted(Path(p) for p in lines)
    # Two simulated chairs, one session each: PDF, HTML and CSV for each.
    assert len(paths) == 6, r.stdout[-2000:]
    # Next to the demo's store (var/demo-outbox.sqlite): var/reports/.
    assert {p.parent for p in paths} == {Path("var/reports")}
    for p in paths:
        assert (tmp_path / p).stat().st_size > 1000
    csvs = [tmp_path / p for p in paths if p.suffix == ".csv"]
    protocols = set()
    for c in csvs:
        rows = list(csv.reader(c.open()))
        fields = {r[3]: r[4] for r in rows if r[0] == "session"}
        protocols.add(fields["Protocol"])
        assert any(r[0] == "reading" for r in rows)
    assert protocols == {"esketamine", "iv-ketamine"}
