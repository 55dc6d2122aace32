"""Make a virtualenv relocatable: `python3 packaging/relocate-venv.py VENV FINAL`.

A venv's console scripts start with `#!VENV/bin/python`, so a venv built under a staging
directory (a .deb build, `install.sh --root DIR` for an image) only runs where it was built.
Each such script gets a two-line launcher instead that finds the interpreter next to
itself (the same trick as distlib's launchers): `/bin/sh` runs the `exec` line, Python
reads it as a string literal and goes on with the script. It follows symlinks
(`/usr/bin/monitord -> /opt/monitord/bin/monitord`), so it runs where the tree lands.
Paths in `activate*` and `pyvenv.cfg` (informational there) are set to FINAL.
Stdlib only: it runs with any Python 3.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LAUNCHER = (
    '#!/bin/sh\n\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")/{python}" "$0" "$@"\n\' \'\'\'\n'
)


def relocate(venv: Path, final: str) -> int:
    changed = 0
    shebang = re.compile(rb"^#!" + re.escape(str(venv).encode()) + rb"/bin/(python[0-9.]*)\s*$")
    for f in sorted((venv / "bin").iterdir()):
        if f.is_symlink() or not f.is_file():
            continue
        data = f.read_bytes()
        first, _, rest = data.partition(b"\n")
        m = shebang.match(first)
        if m:
            f.write_bytes(LAUNCHER.format(python=m.group(1).decode()).encode() + rest)
            changed += 1
        elif f.name.startswith("activate") and str(venv).encode() in data:
            f.write_bytes(data.replace(str(venv).encode(), final.encode()))
            changed += 1
    cfg = venv / "pyvenv.cfg"
    if cfg.exists():
        cfg.write_text(cfg.read_text().replace(str(venv), final))
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: relocate-venv.py VENV FINAL_PATH")
    n = relocate(Path(sys.argv[1]).resolve(), sys.argv[2])
    print(f"relocate-venv: {n} file(s) made relocatable ({sys.argv[1]} -> {sys.argv[2]})")
