"""scripts/install.sh on a machine without python3-venv: it installs it with apt.

On a fresh Debian 13 root (debootstrap, no package lists yet) `apt-get install
python3-venv` alone stopped the install with apt's `Package 'python3-venv' has no
installation candidate` (exit 100) and nothing of install.sh's; a Pi image not updated for
months fails the same step with a 404. The real run was in a trixie chroot (docs/install.md,
"Raspberry Pi OS releases checked"); here apt-get, python3 and id are stand-ins on PATH
that answer as that machine did, so that the script stops at its Python check and touches
nothing (no --root: the apt step runs only on a live install)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.acl_kit import REPO

SCRIPT = REPO / "scripts" / "install.sh"

# apt-get as on a root without package lists: `install` finds nothing until `update` ran.
APT_GET = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1" in
  update) [ -n "$APT_OFFLINE" ] && { echo "E: offline" >&2; exit 100; }
          touch "$FAKE_LISTS"; exit 0;;
  install) [ -e "$FAKE_LISTS" ] && exit 0
           echo "E: Package 'python3-venv' has no installation candidate" >&2; exit 100;;
esac
exit 0
"""


def _run(
    tmp_path: Path, offline: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, text in {
        "apt-get": APT_GET,
        # A Python without venv, whatever apt did: the script stops at its own check.
        "python3": "#!/bin/sh\nexit 1\n",
        # Root, so that the live (not --root) path with its apt step is taken.
        "id": '#!/bin/sh\n[ "$1" = -u ] && { echo 0; exit 0; }\nexec /usr/bin/id "$@"\n',
    }.items():
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    log = tmp_path / "apt.log"
    env = {
        **os.environ,
        "PATH": f"{bin_}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_LISTS": str(tmp_path / "lists"),
        "APT_OFFLINE": "1" if offline else "",
    }
    env.pop("DESTDIR", None)
    r = subprocess.run(
        ["bash", str(SCRIPT), "install"], env=env, capture_output=True, text=True, timeout=60
    )
    return r, log.read_text().splitlines() if log.exists() else []


def test_the_package_lists_are_read_before_python3_venv_is_installed(tmp_path: Path) -> None:
    r, apt = _run(tmp_path)
    assert apt == ["update -qq", "install -y -qq --no-install-recommends python3-venv"], (
        apt,
        r.stderr,
    )
    # apt succeeded; the stand-in Python still lacks venv: the script's own line, exit 1.
    assert r.returncode == 1, r.stderr
    assert "needs Python >= 3.11 with venv" in r.stderr, r.stderr


def test_offline_the_install_is_still_tried_and_its_failure_said_in_one_line(
    tmp_path: Path,
) -> None:
    r, apt = _run(tmp_path, offline=True)
    assert apt == ["update -qq", "install -y -qq --no-install-recommends python3-venv"], apt
    assert r.returncode == 1, r.stderr
    assert "apt-get update failed; trying with the package lists there are" in r.stdout
    assert r.stderr.strip().splitlines()[-1] == (
        "monitord-install: error: could not install python3-venv (apt-get above); "
        "install it, then run this again"
    ), r.stderr
