"""A path no user can use, root neither: a folder on its way that is not one (a file, a
device, a link to nothing). Said as such by `monitord status`, `report`, `backup`,
`doctor` and the daemon's `store.memory` alarm, not as a permission to get (root) or in
the kernel's words ("File exists", "Not a directory").
"""

from __future__ import annotations

import os
from pathlib import Path


def path_fault(path: Path) -> str | None:
    """What is wrong with `path` for anyone, root too: a folder on its way that is a file
    (a storage.path typed with a file's name as its folder), or None. Before, `os.access`
    found the file not enterable and status said "permission denied ... run it as root",
    also to root."""
    path = Path(os.path.abspath(path))
    for d in reversed(path.parents):
        if os.path.lexists(d) and not os.path.isdir(d):
            # A device, a pipe or a socket: it read "/dev/null is not a folder either, not
            # a folder".
            kind = "a file" if os.path.isfile(d) else "a device, pipe or socket"
            if os.path.islink(d) and not os.path.exists(d):
                kind = "a symbolic link to nothing"
            return f"{d} is {kind}, not a folder"
    return None
