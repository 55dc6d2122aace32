"""A store read on a read-only file system: the old card mounted read-only on a laptop to
take its store off, or a failing card that remounted itself so (ext4 `errors=remount-ro`).

A reader of a WAL database needs its -shm and makes it when it is not there: on a
read-only file system it cannot, and every read-only command (`backup`, `status`,
`report --db`) failed, "unable to open database file", though the store was whole. With
no -wal the main file holds every commit and nothing can change it there (the file
system refuses every write): it is then read as immutable. With commits in a -wal and no
-shm it cannot be read whole: `WalOnReadOnly`, which each command says in its own words."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from monitord.store.schema import primary_code

SQLITE_CANTOPEN = 14


class WalOnReadOnly(Exception):
    """A store on a read-only file system whose -wal SQLite cannot read (no -shm)."""


def open_read_only(store: Path, probe: str, **kw: object) -> sqlite3.Connection:
    """A read-only connection to `store` that has run `probe` (a read) once; `kw` for
    `sqlite3.connect`. Raises sqlite3.Error as the plain read-only open did, and
    WalOnReadOnly (above)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, **kw)  # type: ignore[call-overload]
    try:
        db.execute(probe).fetchall()
        return db  # type: ignore[no-any-return]
    except sqlite3.Error as e:
        db.close()
        if primary_code(e) != SQLITE_CANTOPEN or not read_only_fs(store):
            raise
    wal = Path(f"{store}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise WalOnReadOnly  # immutable would read the main file without its commits
    db = sqlite3.connect(f"file:{store}?immutable=1", uri=True, **kw)  # type: ignore[call-overload]
    try:
        db.execute(probe).fetchall()
    except BaseException:
        db.close()
        raise
    return db  # type: ignore[no-any-return]


def read_only_fs(path: Path) -> bool:
    """`path`'s folder is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(Path(os.path.realpath(path)).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
