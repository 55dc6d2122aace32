"""The static checks pass: mypy --strict over monitord, tests and bench (the files and the
strictness are `[tool.mypy]` in pyproject.toml, so a plain `mypy` checks the same), and
ruff's lint rules over the whole repository (`[tool.ruff]`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240
    )


def test_mypy_strict_is_clean() -> None:
    p = run("mypy")
    assert p.returncode == 0, f"mypy failed:\n{p.stdout}{p.stderr}"


def test_ruff_check_is_clean() -> None:
    p = run("ruff", "check", ".")
    assert p.returncode == 0, f"ruff check failed:\n{p.stdout}{p.stderr}"
