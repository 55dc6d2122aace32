"""A Pi's store backed up while the daemon runs, and restored on a new SD card
(docs/operations.md, "Backup and restore").

The store is SQLite in WAL mode: the commits since the last checkpoint are in the -wal
file, so a `cp` of `outbox.sqlite` while the daemon runs misses them (a store younger than
its first checkpoint copies as an empty database, which a daemon then starts on as new
without a word), and a `cp` of both files copies them at two instants. `monitord backup`
makes one self-contained file of one instant. Proved here on a real `monitord run`
subprocess writing a simulated oximeter's readings: the copy taken meanwhile is one file,
passes its check, holds a prefix of what the daemon stored (every record as stored, none
half), and a daemon started on it after a restore takes it as it is (no `store.replaced`,
its records kept, new ones added after them).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.outbox import SCHEMA_VERSION
from monitord.store.base import PAGE_SIZE
from tests.faults.storekit import monitord
from tests.faults.test_bad_store import Run, config, good_store
from tests.kit import eventually

Row = tuple[int, str, int, str]  # a record: id, type, t_ns, body


def rows(path: Path) -> list[Row]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        got = db.execute("SELECT id, type, t_ns, body FROM records ORDER BY id").fetchall()
    return [(int(i), str(t), int(n), str(b)) for i, t, n, b in got]


def stored(path: Path) -> int:
    """Records the daemon committed so far (a reader of the live store: WAL included)."""
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        with contextlib.suppress(sqlite3.OperationalError):  # no schema committed yet
            return int(db.execute("SELECT count(*) FROM records").fetchone()[0])
    return 0


async def until_stored(run: Run, store: Path, count: int, what: str) -> None:
    """Until `store` holds at least `count` records, or the daemon has exited."""
    await eventually(lambda: run.proc.poll() is not None or stored(store) >= count, 60, what)


async def run_restored(
    cfg: Path, store: Path, copied: list[Row], log: Path
) -> tuple[str, list[Row]]:
    """A daemon started on the restored copy until 20 records past it, stopped (exit 0):
    its output and the store's records, the copy's kept as they were restored."""
    run = Run(cfg, log)
    try:
        await until_stored(run, store, len(copied) + 21, "readings stored after the restore")
    finally:
        rc = run.stop()
    out = run.out()
    assert rc == 0, out
    after = rows(store)
    assert after[: len(copied)] == copied, out  # the restored history, kept
    return out, after


async def test_a_backup_of_a_running_store_is_one_whole_file_a_daemon_restores(
    tmp_path: Path,
) -> None:
    store = tmp_path / "var" / "outbox.sqlite"
    cfg = config(tmp_path, store)
    dest = tmp_path / "usb" / "chair-1.sqlite"
    dest.parent.mkdir()
    run = Run(cfg, tmp_path / "daemon.log")
    try:
        await until_stored(run, store, 40, "readings stored")
        assert run.proc.poll() is None, run.out()
        r = monitord("backup", "-c", str(cfg), str(dest))
        await eventually(lambda: stored(store) > len(rows(dest)), 60, "stored after the copy")
    finally:
        assert run.stop() == 0, run.out()
    assert r.returncode == 0, r
    assert r.stderr == "", r.stderr
    assert r.stdout.startswith(f"{dest}: schema v{SCHEMA_VERSION}, "), r.stdout
    assert len(r.stdout.splitlines()) == 1, r.stdout
    # One file, whole without a -wal beside it: what a USB stick or a `scp` carries.
    assert sorted(os.listdir(dest.parent)) == [dest.name]
    with contextlib.closing(sqlite3.connect(f"file:{dest}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    copied, live = rows(dest), rows(store)
    assert len(copied) >= 40
    assert f" {len(copied)} records" in r.stdout
    # One instant: the records up to the copy's last, each as the daemon stored it.
    assert copied == live[: len(copied)]

    # A new card: the old store moved away (or gone), the copy put in its place.
    aside = tmp_path / "old-card"
    aside.mkdir()
    for p in store.parent.iterdir():
        if p.name.startswith("outbox.sqlite"):
            shutil.move(p, aside / p.name)
    shutil.copy(dest, store)
    out, after = await run_restored(cfg, store, copied, tmp_path / "restored.log")
    assert "store.replaced" not in out and "CRITICAL" not in out and "Traceback" not in out, out
    # New records after the restored ones.
    assert min(i for i, *_ in after[len(copied) :]) > copied[-1][0]


def test_a_backup_never_overwrites_and_a_folder_takes_a_dated_file(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    cfg = config(tmp_path, store)
    dest = tmp_path / "earlier.sqlite"
    dest.write_bytes(b"an earlier backup")
    r = monitord("backup", "-c", str(cfg), str(dest))
    assert r.returncode == 73, r
    assert r.stderr == f"monitord backup: {dest} exists: not overwritten (name a new file)\n"
    assert dest.read_bytes() == b"an earlier backup"
    folder = tmp_path / "backups"
    folder.mkdir()
    r = monitord("backup", "-c", str(cfg), str(folder))
    assert r.returncode == 0, r
    (made,) = folder.iterdir()
    assert made.name.startswith("outbox-") and made.suffix == ".sqlite"
    assert r.stdout.startswith(f"{made}: ")
    assert rows(made) == rows(store)


def test_no_store_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "outbox.sqlite"
    r = monitord("backup", "-c", str(config(tmp_path, store)), str(tmp_path / "copy.sqlite"))
    assert r.returncode == 66, r
    assert r.stderr == f"monitord backup: no store at {store} (has the daemon run yet?)\n"
    assert not (tmp_path / "copy.sqlite").exists()


@pytest.mark.parametrize("page", [2, 5])
def test_a_damaged_store_gives_no_copy_and_one_line(tmp_path: Path, page: int) -> None:
    """A zeroed page (SD-card rot): page 2 (a pointer map) is copied and fails the copy's
    check; page 5 fails the copy itself. Either way no file passes for a backup."""
    store = tmp_path / "outbox.sqlite"
    good_store(store)
    with open(store, "r+b") as f:
        f.seek(PAGE_SIZE * (page - 1))
        f.write(bytes(PAGE_SIZE))
    r = monitord("backup", "-c", str(config(tmp_path, store)), str(tmp_path / "copy.sqlite"))
    assert r.returncode == 65, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"monitord backup: {store} is damaged ("), r
    assert "no copy written; replace the SD card" in lines[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("copy")] == []


def test_a_store_behind_the_service_users_folder_says_run_it_as_root(tmp_path: Path) -> None:
    """An admin without root on an installed Pi: /var/lib/monitord is the service user's,
    0700. As root here, the capabilities that pass such a folder are dropped (setpriv)."""
    state = tmp_path / "state"
    state.mkdir()
    store = state / "outbox.sqlite"
    good_store(store)
    os.chown(store, 65534, 65534)
    os.chown(state, 65534, 65534)
    state.chmod(0o700)
    cfg = config(tmp_path, store)
    dest = tmp_path / "copy.sqlite"
    r = subprocess.run(
        ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner",
         sys.executable, "-m", "monitord", "backup", "-c", str(cfg), str(dest)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 66, r
    assert r.stderr.splitlines() == [
        f"monitord backup: cannot read {store}: permission denied (folder {state} is "
        f"{pwd.getpwuid(65534).pw_name}'s, mode 0700): "
        f"run it as root: sudo monitord backup -c {cfg} {dest}"
    ], r.stderr
    assert not dest.exists()
