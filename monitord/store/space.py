"""Room on the store's disk: a failed open or read with less than FULL_DISK_BYTES free
where the store is, with SQLite saying the disk is full or could not do its I/O, is the
disk's fault, not the file's (the daemon's open keeps the store, storeopen.py; `status`
and `report` say so, store/base.py)."""

from __future__ import annotations

import os
from pathlib import Path

# Below this much free space where the store lives, a failed open is the disk's, not the
# file's: SQLite needs room for its -shm (32 KiB), a WAL frame and the pages it grows by.
FULL_DISK_BYTES = 1 << 20
# What SQLite says then: SQLITE_FULL, or SQLITE_IOERR when it cannot make the -shm a WAL
# store needs even to be read (a failing card says SQLITE_IOERR too: hence the free space).
DISK_FAULTS = {10, 13}


def free_bytes(path: Path) -> int | None:
    """Space free to this user on the store's file system, or None if it cannot be read.
    Where the file is, not its link: a store linked from elsewhere (another disk) was
    measured where the link lives, and the link moved aside as a bad store."""
    try:
        st = os.statvfs(Path(os.path.realpath(path)).parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
