"""Fixtures of the installation tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import session_tmpdir

REPO = Path(__file__).resolve().parents[2]


class Installed:
    """`scripts/install.sh install --root DIR` run once: its root and its output."""

    def __init__(self, root: Path, stdout: str) -> None:
        self.root, self.stdout = root, stdout

    def copy_to(self, dest: Path) -> Path:
        """A copy of the installed tree at `dest` (modes and symlinks kept). The tree is
        relocatable (tests/ops/test_install.py checks that no file names the build root,
        and that a copy runs with the build root gone): the copy is an install at `dest`."""
        shutil.copytree(self.root, dest, symlinks=True)
        return dest


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    """One install for every test that needs an installed tree (its pip install takes
    ~30 s): those tests are in one module, tests/ops/test_install.py, which the suite
    runs on one worker (`--dist loadfile`, scripts/setup.sh); each works on a copy."""
    base = session_tmpdir("install")
    try:
        root = base / "build-root"
        p = subprocess.run(
            ["bash", str(REPO / "scripts/install.sh"), "install", "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        assert p.returncode == 0, (
            f"install.sh install failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        )
        yield Installed(root, p.stdout)
    finally:
        shutil.rmtree(base, ignore_errors=True)
