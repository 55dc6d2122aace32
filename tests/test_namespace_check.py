"""`tools/namespace.py --check` passes on the tree (issue 19's namespacing).

The lead runs it after a merge to find a file that still imports the old top-level
`drivers`/`simulators` packages; a check that fails on a clean tree is a check nobody runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "namespace.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_namespace_check_passes_on_the_tree() -> None:
    out = _check()
    assert out.returncode == 0, out.stdout + out.stderr


def test_namespace_check_names_an_old_import(tmp_path: Path) -> None:
    # The check must still see a real old-style import (KEEP exempts named files only).
    probe = ROOT / "tests" / f"_namespace_probe_{tmp_path.name}.py"
    old = "simulators"  # split so that the check does not find this file itself
    probe.write_text(f"from {old}.base import SimEvent\n", encoding="utf-8")
    try:
        out = _check()
    finally:
        probe.unlink()
    assert out.returncode == 1
    assert probe.name in out.stdout
