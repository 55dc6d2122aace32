"""`monitord backup` of a store on a read-only file system (docs/operations.md, "Backup
and restore"): the old card mounted read-only to take its store off, or a failing card
that remounted itself read-only. A real read-only bind mount in a mount namespace of its
own (`unshare -m`, as root: the suite runs as root).

SQLite's reader of a WAL database makes the -shm when it is not there: on a read-only
file system it cannot, so a store the daemon closed cleanly (no -wal, no -shm: every
commit in the main file) could not be copied at all ("cannot read ... as a store (unable
to open database file)"). It is now copied whole. A store whose -wal holds commits but
has no -shm cannot be read whole there: one line says so and what to do, no copy.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import reading
from tests.faults.storekit import die_with_wal, on_read_only_card
from tests.ops.test_backup_room import config


def rows(path: Path) -> list[tuple[int, str, int, str]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        got = db.execute("SELECT id, type, t_ns, body FROM records ORDER BY id").fetchall()
    return [(int(i), str(t), int(n), str(b)) for i, t, n, b in got]


def test_a_cleanly_closed_store_on_a_read_only_card_is_copied_whole(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    store = card / "outbox.sqlite"
    ob = Outbox(store, StorageConfig(path=store))
    for i in range(20):
        ob.add_readings([reading(i * 50 + j) for j in range(50)], {"chair-1": "s-1"})
        ob.commit()
    ob.close()  # a clean stop: checkpointed, no -wal left
    assert sorted(p.name for p in card.iterdir()) == ["outbox.sqlite"]
    dest = tmp_path / "copy.sqlite"
    r = on_read_only_card(card, "backup", "-c", str(config(tmp_path, store, 512)), str(dest))
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"{dest}: schema v"), r.stdout
    assert sorted(p.name for p in card.iterdir()) == ["outbox.sqlite"]  # nothing written
    assert rows(dest) == rows(store) and len(rows(dest)) == 1000


def test_commits_in_a_wal_without_its_shm_on_a_read_only_card_give_one_line(
    tmp_path: Path,
) -> None:
    card = tmp_path / "card"
    card.mkdir()
    store = card / "outbox.sqlite"
    # A daemon that died with commits in its -wal (no checkpoint, no close): the daemon's
    # own Outbox in a process that ends without closing it.
    die_with_wal(store, 0, 50, "s-1")
    assert (card / "outbox.sqlite-wal").stat().st_size > 0
    (card / "outbox.sqlite-shm").unlink()  # nothing has it open: SQLite rebuilds it
    dest = tmp_path / "copy.sqlite"
    r = on_read_only_card(card, "backup", "-c", str(config(tmp_path, store, 512)), str(dest))
    assert r.returncode == 66, r
    assert r.stderr.splitlines() == [
        f"monitord backup: cannot read {store}: on a read-only file system, commits in "
        "its -wal and no -shm, which SQLite needs to read them: no copy written; mount it "
        "read-write, or copy it with its -wal to a writable disk and back that up"
    ], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == []
    # What the line says to do works: the two files copied to a writable disk.
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("outbox.sqlite", "outbox.sqlite-wal"):
        (moved / name).write_bytes((card / name).read_bytes())
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "backup", "-c",
         str(config(moved, moved / "outbox.sqlite", 512)), str(dest)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0, r
    assert len(rows(dest)) == 50
