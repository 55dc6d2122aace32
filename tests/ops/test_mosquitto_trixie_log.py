"""The warnings Debian 13's mosquitto 2.0.21 logs with the broker block of docs/install.md.

CI runs Debian 12's mosquitto 2.0.11, which does not check who owns its password file and
ACL. 2.0.21 does, at every start, and its `mosquitto_passwd` at every account added: an
admin following install.md on a trixie broker found two warnings the page called "a fault
to fix", and a third from `mosquitto_passwd` it did not mention. The lines here are real
captures from trixie's packages (tests/ops/data/, how each was made in its header); the
live check needs a trixie machine or chroot and cannot run in the suite. Each warning must
be quoted in install.md word for word, as test_mosquitto_acl.py checks for the broker the
suite runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acl_kit import REPO, quoted_in_docs

DATA = Path(__file__).parent / "data"


def _warnings(name: str) -> list[str]:
    lines = [
        ln
        for ln in (DATA / name).read_text().splitlines()
        if ln and not ln.startswith("#") and "Warning" in ln
    ]
    # The broker's log lines start with a timestamp; mosquitto_passwd's do not.
    return [ln.split(": ", 1)[1] if ln[0].isdigit() else ln for ln in lines]


@pytest.mark.parametrize(
    "capture",
    ["mosquitto-2.0.21-debian13-start.log", "mosquitto_passwd-2.0.21-debian13.txt"],
)
def test_every_trixie_mosquitto_warning_is_quoted_in_install_md(capture: str) -> None:
    docs = " ".join((REPO / "docs" / "install.md").read_text().split())
    warnings = _warnings(capture)
    assert warnings, f"no warning read from {capture}"
    missing = [w for w in warnings if quoted_in_docs(w) not in docs]
    assert not missing, missing
