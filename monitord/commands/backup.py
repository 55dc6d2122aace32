"""`monitord backup DEST`: a consistent copy of the daemon's store, safe while it runs.

The store is SQLite in WAL mode: what was committed since the last checkpoint is in
`outbox.sqlite-wal`, not in `outbox.sqlite`. A `cp` of the store while the daemon runs
copies the main file without those commits (on a store younger than its first checkpoint
that is an empty database: the daemon then starts on it as new, without a word), or the
two files at different instants, which SQLite then reads as one database made of pages of
two times. This copy is SQLite's own backup (sqlite3_backup, one step: one read
transaction, so one instant), from a read-only connection that never blocks the daemon's
writes, into a single self-contained file (rollback journal, no -wal to go with it),
checked (`quick_check`) and fsynced before it takes its name. docs/operations.md,
"Backup and restore".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path

from monitord.cli import DEFAULT_CONFIG, EX_CANTCREAT, EX_DATAERR, EX_OK, as_root
from monitord.config import load_config
from monitord.pathfault import unreadable
from monitord.store.checkpoint import WAL_RESET_BYTES
from monitord.store.rofs import WalOnReadOnly, open_read_only
from monitord.store.schema import FILE_FAULTS, primary_code
from monitord.store.space import FULL_DISK_BYTES

EX_NOINPUT = 66  # sysexits.h: no store, or one this user cannot read
SQLITE_FULL = 13  # the copy's disk ran out (the store is only read: never its own)
# Left free beside the room the store may still grow to, on its own disk: its WAL between
# checkpoints (monitord/store/checkpoint.py) and what SQLite needs to open it at all.
STORE_SLACK_BYTES = WAL_RESET_BYTES + FULL_DISK_BYTES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dest",
        metavar="DEST",
        type=Path,
        help="the copy to write (a new file), or an existing folder to write "
        "<store>-<UTC time>.sqlite in",
    )


def main(args: argparse.Namespace) -> int:
    storage = load_config(args.config).storage  # ConfigError: see monitord.cli
    store = Path(storage.path)
    dest: Path = args.dest
    # os.path, not Path: Path.exists() and .is_dir() raise PermissionError behind a folder
    # this user may not enter (an installed Pi's /var/lib/monitord is 0700).
    if os.path.isdir(dest):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = dest / f"{store.stem}-{stamp}.sqlite"
    if os.path.lexists(dest):
        return _fail(EX_CANTCREAT, f"{dest} exists: not overwritten (name a new file)")
    if not os.path.exists(store):
        if shut := unreadable(store):
            return _cannot_read(args, store, *shut)
        return _fail(EX_NOINPUT, f"no store at {store} (has the daemon run yet?)")
    part = dest.with_name(dest.name + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as e:
        return _fail(EX_CANTCREAT, f"cannot write {dest}: {e.strerror or e}")
    os.close(fd)
    try:
        try:
            src = _open(store)
        except WalOnReadOnly:
            return _fail(
                EX_NOINPUT,
                f"cannot read {store}: on a read-only file system, commits in its -wal and "
                "no -shm, which SQLite needs to read them: no copy written; mount it "
                "read-write, or copy it with its -wal to a writable disk and back that up",
            )
        except sqlite3.Error as e:
            return _unreadable(args, store, e)
        try:
            short = _no_room(src, store, dest, storage.max_mb)
            if short:
                return _fail(EX_CANTCREAT, short)
            copied = _copy(src, part)
        except sqlite3.Error as e:
            if primary_code(e) == SQLITE_FULL:  # filled meanwhile (the check is a moment's)
                full = f"cannot write {dest}: its disk is full: no copy written"
                return _fail(EX_CANTCREAT, full)
            return _unreadable(args, store, e)
        finally:
            src.close()
        check, line = copied
        if check != "ok":
            # No file passed off as a backup: SQLite copies pages as they are, so a page
            # the card rotted is in the copy too (the unlink below removes it).
            return _damaged(store, f"integrity check: {check}")
        _fsync(part)
        os.rename(part, dest)
        _fsync(dest.parent)
    finally:
        # With its rollback journal: a copy that failed mid-way (a full disk) leaves it.
        for left in (part, part.with_name(part.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                left.unlink()
    print(f"{dest}: {line}")
    return EX_OK


def _open(store: Path) -> sqlite3.Connection:
    """A read-only connection to the store that has read it once (also on a read-only
    file system: monitord/store/rofs.py)."""
    return open_read_only(store, "PRAGMA page_count", timeout=10)


def _no_room(src: sqlite3.Connection, store: Path, dest: Path, max_mb: float) -> str | None:
    """Why the copy must not be written where `dest` is, for want of space, or None.

    A full disk mid-copy failed with SQLite's "database or disk is full", said as the
    store's fault. Worse, on the store's own disk (`monitord backup /var/backups/` on the
    Pi's card) a copy as large as the store took the room the store still grows into up to
    `storage.max_mb`: the daemon's commits then met a full disk mid-session
    (`store.unwritable`, its alarms held in memory). There the copy must leave that room."""
    page_size = src.execute("PRAGMA page_size").fetchone()[0]
    size = int(src.execute("PRAGMA page_count").fetchone()[0]) * int(page_size)
    try:
        st = os.statvfs(dest.parent)
        same_disk = os.stat(dest.parent).st_dev == os.stat(store).st_dev
    except OSError:
        return None  # said by the write itself, as it fails
    free = st.f_bavail * st.f_frsize
    if not same_disk:
        if size + FULL_DISK_BYTES <= free:
            return None
        return (
            f"cannot write {dest}: {free / 1e6:.1f} MB free there, the copy needs "
            f"{size / 1e6:.1f} MB: no copy written"
        )
    keep = max(0, int(max_mb * 1024 * 1024) - size) + STORE_SLACK_BYTES
    if free - size >= keep:
        return None
    return (
        f"{dest}: the copy ({size / 1e6:.1f} MB) would leave {max(0, free - size) / 1e6:.1f} "
        f"MB free on the store's own disk, where the store may still grow by "
        f"{keep / 1e6:.1f} MB (storage.max_mb = {max_mb:g}, and its WAL): no copy written; "
        "write it to another disk (a USB stick: monitord backup /mnt/usb/)"
    )


def _copy(src: sqlite3.Connection, part: Path) -> tuple[str, str]:
    """Back `src` up into `part`; (its quick_check, what it holds as one line)."""
    dst = sqlite3.connect(part, isolation_level=None)
    try:
        src.backup(dst)  # pages=-1: the whole database in one step, at one instant
        # One file: restored alone it is whole (the daemon turns WAL back on at start).
        dst.execute("PRAGMA journal_mode = DELETE")
        rows = dst.execute("PRAGMA quick_check(5)").fetchall()
        check = "; ".join(str(r[0]) for r in rows)
        version = dst.execute("PRAGMA user_version").fetchone()[0]
        line = f"schema v{version}"
        with contextlib.suppress(sqlite3.Error):  # a store of another schema: its version only
            n, newest = dst.execute("SELECT count(*), max(t_ns) FROM records").fetchone()
            line += f", {n} records"
            if newest is not None:
                line += ", the newest of " + time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest / 1e9)
                )
            # As `monitord status` says it: what a restore of this copy sends again.
            waiting = dict(dst.execute("SELECT sink, count(*) FROM pending GROUP BY sink"))
            for sink in ("influx", "mqtt"):
                line += f", outbox {sink}: {waiting.get(sink, 0)} pending"
    finally:
        dst.close()
    return check, line


def _cannot_read(args: argparse.Namespace, store: Path, why: str, root_helps: bool) -> int:
    # A path fault no user reads through, root neither: no root advice then.
    fix = f": run it as root: {_again(args)}" if root_helps else ""
    return _fail(EX_NOINPUT, f"cannot read {store}: {why}{fix}")


def _unreadable(args: argparse.Namespace, store: Path, e: sqlite3.Error) -> int:
    if shut := unreadable(store):
        return _cannot_read(args, store, *shut)
    if primary_code(e) in FILE_FAULTS:  # not a database, or malformed: the card's rot
        return _damaged(store, str(e))
    return _fail(EX_NOINPUT, f"cannot read {store} as a store ({e})")


def _damaged(store: Path, why: str) -> int:
    why = "; ".join(part.strip() for part in why.splitlines() if part.strip())
    return _fail(
        EX_DATAERR,
        f"{store} is damaged ({why}): no copy written; replace the SD card (the daemon "
        "moves such a store aside at its next start, kept for inspection)",
    )


def _again(args: argparse.Namespace) -> str:
    opts = [] if args.config == DEFAULT_CONFIG else ["-c", str(args.config)]
    return as_root("backup", [*opts, str(args.dest)])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(code: int, line: str) -> int:
    print(f"monitord backup: {line}", file=sys.stderr)
    return code
