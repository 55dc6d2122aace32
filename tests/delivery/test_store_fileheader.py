"""monitord/store/fileheader.py (doctor's read of a store's schema version without SQLite)
held against the files SQLite itself writes: at each step the version read from the bytes
is the one a read-only SQLite connection (to a copy, so the files read stay as they are)
reports."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from monitord.store.fileheader import user_version


def sqlite_says(path: Path, tmp: Path) -> int:
    copy = tmp / "copy.sqlite"
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", f"{copy}{suffix}")
        else:
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    Path(f"{copy}-shm").unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_the_version_read_from_the_bytes_is_sqlites(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    db = sqlite3.connect(store, isolation_level=None)
    seen: list[int | None] = []

    def check() -> None:
        seen.append(user_version(store))
        assert seen[-1] == sqlite_says(store, tmp_path), seen

    try:
        db.execute("PRAGMA page_size = 1024")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("CREATE TABLE t (x)")
        db.execute("PRAGMA user_version = 3")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        check()  # the header's, an empty -wal
        db.execute("PRAGMA user_version = 4")
        check()  # committed in the -wal only
        # A transaction not committed (a step killed): its frames, page 1's among them,
        # reach the -wal once the cache spills; they do not count.
        db.execute("BEGIN")
        db.execute("PRAGMA user_version = 9")
        db.execute(
            "INSERT INTO t SELECT randomblob(900) FROM (WITH RECURSIVE c(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) SELECT i FROM c)"
        )
        assert Path(f"{store}-wal").stat().st_size > 1 << 20
        check()
        db.execute("ROLLBACK")
        db.execute("PRAGMA user_version = 5")
        check()
        # A checkpoint, then the -wal restarted from its start by the next commit: the
        # older frames after the new ones (other salts) are not read.
        db.execute("PRAGMA wal_checkpoint(RESTART)")
        db.execute("INSERT INTO t VALUES (1)")
        check()
        db.execute("PRAGMA user_version = 6")
        check()
        # A torn last frame (its checksum does not hold): the transaction it ended is not.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the -wal then ends at its last frame
        db.execute("PRAGMA user_version = 7")
        check()
        wal = Path(f"{store}-wal")
        good = wal.read_bytes()
        db.execute("PRAGMA user_version = 8")
        torn = bytearray(wal.read_bytes())
        torn[-10] ^= 0xFF
        wal.write_bytes(bytes(torn))
        check()
        assert seen[-1] == 7
        wal.write_bytes(good)
    finally:
        db.close()
    assert seen == [3, 4, 4, 5, 5, 6, 7, 7]
    # Not a store: nothing read, no error.
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "text").write_text("not a database\n" * 20)
    assert user_version(tmp_path / "empty") is None
    assert user_version(tmp_path / "text") is None
    with pytest.raises(FileNotFoundError):  # doctor tells "no store" from "unreadable"
        user_version(tmp_path / "missing")
