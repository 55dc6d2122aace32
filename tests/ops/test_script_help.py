"""`--help` of the admin's scripts prints their header comment and nothing else: it printed
lines by number, and two of them had grown past the header (`set -euo pipefail` shown as
if it were part of the usage)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script", ["scripts/install.sh", "scripts/make-certs.sh", "packaging/build-deb.sh"]
)
def test_help_is_the_header_comment(script: str) -> None:
    p = subprocess.run(
        ["bash", str(REPO / script), "--help"], capture_output=True, text=True, timeout=30
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) > 3 and all(ln.startswith("#") for ln in lines), p.stdout
    # The whole header: its last comment line before the code is the last line shown.
    header = (REPO / script).read_text().splitlines()[1:]
    end = next(i for i, ln in enumerate(header) if not ln.startswith("#"))
    assert lines == header[:end], p.stdout
