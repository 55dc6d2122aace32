"""A path no user can use, root neither: a folder on its way that is not one (a file, a
device, a link to nothing). Said as such by `monitord status`, `report`, `backup`,
`doctor` and the daemon's `store.memory` alarm, not as a permission to get (root) or in
the kernel's words ("File exists", "Not a directory").

`unreadable` is the one question those commands ask: why this user cannot read a path,
and whether running as root would help. It walks the path's folders once for each answer
(before, each command asked `path_fault` and then `denied`, which asked it again).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path


def in_the_way(path: Path) -> tuple[Path, Path] | None:
    """The thing in the way of `path`'s folders (a file where a folder is to be) and the
    folder it is in, which exists: what `doctor` names for space and for the unit's
    ReadWritePaths=, not the file itself. None when no such thing is in the way."""
    path = Path(os.path.abspath(path))
    for d in reversed(path.parents):
        if os.path.lexists(d) and not os.path.isdir(d):
            return d, d.parent
    return None


def path_fault(path: Path) -> str | None:
    """What is wrong with `path` for anyone, root too: a folder on its way that is a file
    (a storage.path typed with a file's name as its folder), or None. Before, `os.access`
    found the file not enterable and status said "permission denied ... run it as root",
    also to root."""
    if (hit := in_the_way(path)) is None:
        return None
    d = hit[0]
    # A device, a pipe or a socket: it read "/dev/null is not a folder either, not a folder".
    kind = "a file" if os.path.isfile(d) else "a device, pipe or socket"
    if os.path.islink(d) and not os.path.exists(d):
        kind = "a symbolic link to nothing"
    return f"{d} is {kind}, not a folder"


def unreadable(path: Path) -> tuple[str, bool] | None:
    """Why this user cannot read `path`, and whether root could: `(reason, False)` for a
    `path_fault` (the path is to fix, root gets no further), `(reason, True)` for a
    permission this user lacks, with the owner and mode (the install makes the state
    folder the service user's, mode 0700: systemd/monitord.service StateDirectory=, an
    admin reads it as root); None when neither stops it."""
    if (fault := path_fault(path)) is not None:
        return fault, False
    path = Path(os.path.abspath(path))
    for d in [*reversed(path.parents), path]:
        if os.access(d, os.X_OK if d != path else os.R_OK) or not os.path.lexists(d):
            continue
        st = d.stat()
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = f"uid {st.st_uid}"
        what = "folder " if d != path else ""
        mode = stat.S_IMODE(st.st_mode)
        return f"permission denied ({what}{d} is {owner}'s, mode {mode:04o})", True
    return None
