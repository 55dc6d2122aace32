"""The shipped systemd units, what their `Documentation=file://` lines name, and the
`systemctl` calls of the install and maintainer scripts: shared by tests/ops/test_install.py
and tests/ops/test_deb.py, which check that every such doc is a file the install (and the
.deb) lays out, so a unit's link cannot point into the void again (issue 19 follow-up), and
that no script enables or starts a service; and that the installed doc pages' relative links
resolve.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNITS = [REPO / "systemd" / "monitord.service", REPO / "systemd" / "monitord-station.service"]
# What the install and maintainer scripts may ask of systemctl: a service starts at boot, or
# now, only when the admin says so (the station runs on one machine of the admin's choosing).
# `start` is the second half of an upgrade's restart: the .deb stops what runs before the
# unpack and starts only that again (tests/ops/test_maintainer_scripts.py checks that a
# stopped service stays stopped and a first install starts nothing). `is-enabled` is asked
# as deb-systemd-invoke asks it (a unit started by hand, not enabled, is started again).
ALLOWED_SYSTEMCTL = {
    "daemon-reload",
    "disable",
    "try-restart",
    "is-active",
    "is-enabled",
    "stop",
    "start",
}


def documentation_files(unit: Path) -> list[str]:
    """The absolute paths of the unit's `Documentation=file://...` URLs (at least one)."""
    paths: list[str] = []
    for line in unit.read_text().splitlines():
        if line.startswith("Documentation="):
            for url in line.removeprefix("Documentation=").split():
                if url.startswith("file://"):
                    paths.append(url.removeprefix("file://"))
    assert paths, f"{unit.name}: no Documentation=file:// line"
    return paths


def systemctl_verbs(script: Path) -> set[str]:
    """The verb of each `systemctl` call in a shell script. Text printed for the operator
    (quoted strings, here-documents: "then systemctl enable --now monitord") and comments
    are not calls."""
    verbs: set[str] = set()
    heredoc_end = ""
    for line in script.read_text().splitlines():
        if heredoc_end:
            if line.strip() == heredoc_end:
                heredoc_end = ""
            continue
        if m := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            heredoc_end = m.group(1)
        code = re.sub(r"\"[^\"]*\"|'[^']*'", "''", line)
        code = re.sub(r"(^|\s)#.*", "", code)
        for c in re.finditer(r"\bsystemctl\s+(?:--\S+\s+)*([a-z-]+)", code):
            verbs.add(c.group(1))
    return verbs


def dead_links(docs: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """`page -> target` for every relative Markdown link (`](x.md)`, `](x.png#part)`) of the
    installed pages in `docs` whose target is not a file there; `skip` names pages not
    checked (the repository's README links into docs/)."""
    return [
        f"{page.name} -> {target}"
        for page in sorted(docs.glob("*.md"))
        if page.name not in skip
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text())
        if not (docs / target).is_file()
    ]
