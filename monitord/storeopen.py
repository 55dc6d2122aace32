"""Opening the daemon's store: one daemon per store, and monitoring starts whatever state
the file is in (issue 12, defects 9 and 10).

Lock: an fcntl (POSIX) write lock on `<store>.lock`, taken *before* the store is opened,
migrated or moved aside, and held for the daemon's life (the kernel drops it when the
process dies, even on SIGKILL, so a stale lock file never blocks a restart). A second
`monitord run` on the same store exits 75 (EX_TEMPFAIL) naming the first one's pid: two
daemons would fight over the broker client ids and overwrite each other's engine state.

A store that cannot be used is never fatal, since without the daemon the chair has no
alarms at all:
- garbage, truncated or corrupt (`PRAGMA quick_check`, read-only), or a directory at the path: the
  bad file is moved aside to `<store>.bad-<UTC time>` (with its -wal/-shm; never deleted,
  someone may want the data back), a fresh store is created, and a technical alarm says so;
- a restored `monitord backup` copy put over the main file beside the replaced store's
  -wal: that -wal and -shm are renamed aside before anything opens it (applied, they
  overwrote the copy; `_set_foreign_wal_aside`);
- written by a newer monitord: refused (exit 78 with the reason), not moved aside: a
  downgrade must not hide the newer data; the operator decides;
- an intact store on a full disk (SQLite says "database or disk is full", or "disk I/O
  error" when it cannot create the -shm file): not a bad store, so kept where it is, not
  moved aside (that hid its undelivered backlog and the engines' snapshot, and the next
  start, space freed, began empty); this run works from memory as below, the alarm says
  the disk is full, and the next start opens the store with everything in it. A store
  SQLite calls not a database or malformed, or that fails its check, is bad whatever the
  space: moved aside as above (kept, it sent every start to memory on a small volume);
- an intact store the card fails to read or write (SQLITE_IOERR, EIO, EROFS: a failing
  SD card) after the full-disk case: kept where it is, this run from memory, the alarm
  saying to replace the card (moved aside, its backlog and snapshot went with it);
- an intact store SQLite refuses access to (another process holds its lock; this user may
  not write it; its file system is read-only): kept where it is, this run from memory,
  the alarm naming which and what to do (ACCESS_FAULTS below);
- nothing can be written where the store lives (read-only mount, no permission, no space
  even for an empty store): the daemon runs on a store in memory, with a technical alarm
  that stays up. We chose this over exiting for systemd to retry: a read-only file system
  does not heal by restarting, systemd gives up after its start limit, and a chair without
  its daemon raises no alarm at all. In memory, alarms still go out live (MQTT, console)
  and readings reach InfluxDB while it answers; only the local history and the outbox's
  survival across a restart are lost, which the alarm says.
A run from memory beside an intact store kept where it is (a full disk, access refused, a
migration without room) starts its chairs from that file's engine snapshots, read-only,
as any restart does (monitord/storeresume.py); the alarm says whether it could. Not
beside a failing card's: reading it may hang the start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
import struct
import time
from collections.abc import Callable
from pathlib import Path

from monitord import storeresume
from monitord.config import StorageConfig
from monitord.outbox import (
    FILE_FAULTS,
    SCHEMA_VERSION,
    MigrationFailed,
    Outbox,
    OutboxError,
    SchemaTooNew,
    primary_code,
)
from monitord.pathfault import path_fault
from monitord.store.base import Durability
from monitord.store.fileheader import foreign_wal
from monitord.store.replaced import REPLACED_KEY
from monitord.store.schema import unwritable_advice
from monitord.store.space import FULL_DISK_BYTES, free_bytes
from monitord.storecheck import note_sound, sound_this_boot
from monitord.techalarm import TechAlarms

log = logging.getLogger("monitord.store")

EX_TEMPFAIL = 75  # sysexits.h: another instance holds the store; systemd may retry later
SQLITE_IOERR = 10


class StoreLocked(Exception):
    """Another live process holds the store's lock; the message is the one line to print."""


class StoreLock:
    def __init__(self, fd: int | None, path: Path) -> None:
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def lock_path(store: Path) -> Path:
    """`<store>.lock`: the lock a daemon holds on its store for its whole life, its pid
    written in it for a reader's eyes (the holder itself is asked of the kernel:
    `lock_holder`)."""
    return store.with_name(store.name + ".lock")


def lock_store(store: Path) -> StoreLock:
    """Take `<store>.lock` or raise StoreLocked naming the holder's pid."""
    path = lock_path(store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        # A read-only location: no other daemon can write a store there either, and the
        # store itself will be in memory (open_store). Said once; not a reason to stop.
        log.info("cannot create the lock file %s (%s); running without it", path, e)
        return StoreLock(None, path)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pid = lock_holder(fd)
        os.close(fd)
        who = f"pid {pid}" if pid else "another process"
        raise StoreLocked(
            f"monitord: {store} is in use by another monitord ({who}); "
            "refusing to start a second daemon on the same store"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as e:
        # A failing card (EIO) opens for writing but refuses the write: the lock is the
        # kernel's and holds all the same; only our pid is not there for a second daemon's
        # refusal to name. Not a reason to stop: the store opens from memory if need be.
        log.info("cannot write the pid into the lock file %s (%s); locked without it", path, e)
    return StoreLock(fd, path)


def lock_holder(fd: int) -> int | None:
    """The pid holding a write lock on `fd`'s file, as the kernel says (F_GETLK), or None
    (no holder, or one outside this pid namespace). Not the pid written in the file: a
    daemon on a card failing with EIO cannot write it, and the file kept the previous,
    dead daemon's, which a refusal then named (an admin told to stop a process gone, or
    another one that got its pid)."""
    query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    try:
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None


# struct flock: l_type, l_whence (short), l_start, l_len (off_t: 64 bits, Python is built
# with large-file support, F_GETLK then being F_GETLK64 on 32-bit ARM), l_pid (pid_t).
_FLOCK = "@hhqqi"


def open_store(
    cfg: StorageConfig, alarms: TechAlarms, progress: Callable[[str], None] | None = None
) -> Outbox:
    """The daemon's outbox at `cfg.path`, replaced or in memory if it cannot be used (see
    the module docstring). Raises SchemaTooNew only. `progress(what)` is called often
    while its integrity check or a migration runs (monitord/sdnotify.py StartExtender)."""
    path = Path(cfg.path)
    stuck = _set_foreign_wal_aside(path)
    if stuck is not None:
        return _in_memory(path, cfg, alarms, stuck)
    try:
        return _open_checked(path, cfg, progress)
    except SchemaTooNew:
        raise
    except MigrationFailed as e:
        # An intact store an upgrade could not migrate (no room on the disk): kept, not
        # moved aside (its backlog and the engines' snapshot stay for the next start).
        return _in_memory(path, cfg, alarms, str(e), kept=True)
    except (sqlite3.Error, OutboxError, OSError) as e:
        why, bad_file, access = _why(e), _bad_file(e), _access_fault(e, path)
        card = unwritable_advice(e, path) if _card_fault(e) else None
    if not os.path.lexists(path):
        # Said as a sentence, with the fix: it read "the store ... is cannot create it".
        # A folder on its way that is not one, said so: it read "([Errno 17] File exists:
        # '/etc/hostname')", as if something were in the way of a new file.
        why = path_fault(path) or why
        return _in_memory(
            path,
            cfg,
            alarms,
            f"({why}); set storage.path to a file in a folder writable by the user monitord "
            "runs as (the shipped unit's is /var/lib/monitord: its StateDirectory, the only "
            "one it may write)",
            state="cannot be created",
        )
    if access is not None:
        return _in_memory(
            path,
            cfg,
            alarms,
            f"{access} ({why}): kept as it is, not moved aside; {ACCESS_FIX[access]}",
            kept=True,
        )
    free = free_bytes(path)
    if not bad_file and free is not None and free < FULL_DISK_BYTES:
        return _in_memory(
            path,
            cfg,
            alarms,
            f"on a full disk ({free} bytes free; {why}): kept as it is, not moved aside; "
            "free disk space",
            kept=True,
        )
    if not bad_file and card is not None:
        # The card, not the file: SQLite judged nothing (its verdicts are FILE_FAULTS),
        # a read or write of it failed. Moved aside, the backlog and the engines' snapshot
        # went with it (a fresh store failed on the same card all the same).
        # Not read for the chairs' state either: a card failing its reads may hang one,
        # and a start that waits on it monitors nothing.
        return _in_memory(path, cfg, alarms, f"kept as it is, not moved aside ({why}): {card}")
    try:
        bad = move_aside(path)
    except OSError as e:
        return _in_memory(
            path, cfg, alarms, f"unusable ({why}) and cannot be moved aside ({e.strerror})"
        )
    try:
        ob = _open_checked(path, cfg)
    except (sqlite3.Error, OutboxError, OSError) as e:
        return _in_memory(
            path, cfg, alarms, f"unusable ({why}), moved to {bad}; a fresh one failed ({_why(e)})"
        )
    # Said in the fresh store itself: a session open now has its first part in `bad`,
    # and `monitord report` on this store (what the lead files from) must say where
    # (monitord/report/replaced.py); the alarm and the journal are gone by then.
    with contextlib.suppress(sqlite3.Error, OSError):
        ob.put_state(
            REPLACED_KEY,
            {"t": time.time(), "moved_to": bad.name, "why": why},
            durability=Durability.SYNC,
        )
    alarms.raise_(
        "store.replaced",
        f"the store {path} was unusable ({why}): moved to {bad.name}, started a fresh one "
        "(engine state and local history start empty)",
    )
    return ob


def _open_checked(
    path: Path, cfg: StorageConfig, progress: Callable[[str], None] | None = None
) -> Outbox:
    if path.is_dir():
        raise OutboxError("it is a directory")
    # Found sound in this boot, a file is checked after the start (storecheck.py).
    later = path.exists() and sound_this_boot(path)
    if path.exists():
        # Checked read-only first: a read-write connection checkpoints on close, which
        # would rewrite the header of a file we are about to move aside for inspection.
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{path}: schema v{version} is newer than this monitord "
                    f"(v{SCHEMA_VERSION}); upgrade monitord or move the file away"
                )
            if progress is not None and not later:
                progress("checking the store")
                db.set_progress_handler(lambda: progress("checking the store"), 100_000)
            rows = [] if later else db.execute("PRAGMA quick_check(5)").fetchall()
        finally:
            db.close()
        check = "; ".join(str(r[0]) for r in rows)
        if not later and check != "ok":
            raise OutboxError(f"integrity check: {check}")
    ob = Outbox(path, cfg, progress=progress)
    ob.unchecked = later
    if not later:
        note_sound(path)  # checked, or created now: a restart in this boot checks after
    return ob


def _in_memory(
    path: Path,
    cfg: StorageConfig,
    alarms: TechAlarms,
    why: str,
    *,
    state: str = "is",
    kept: bool = False,
) -> Outbox:
    """A store in memory; `kept`: the file at `path` is intact and left there, so the
    chairs resume from it (monitord/storeresume.py), and the alarm says whether they did."""
    ob = Outbox(path, cfg, memory=True)
    resumed = f"; {storeresume.resume(path, ob)}" if kept else ""
    alarms.raise_(
        "store.memory",
        f"the store {path} {state} {why}: running on a store in memory; alarms still go out "
        "live, but nothing is kept across a restart until that is fixed and monitord "
        f"restarted{resumed}",
    )
    return ob


def _set_foreign_wal_aside(path: Path) -> str | None:
    """A restored `monitord backup` copy put over the main file only, beside the -wal of
    the store it replaced (monitord/store/fileheader.py, `foreign_wal`): SQLite applied
    that -wal to the copy, and the first checkpoint wrote the replaced store's pages over
    the copy's, the restored history gone without a word (`quick_check` ok). That -wal
    and its -shm are renamed to `<store>.foreign-<UTC time>-wal`/`-shm` (kept, never
    deleted) before anything opens the store. None when done or not needed; else why it
    could not be (this run then works from memory, the copy untouched)."""
    try:
        if not os.path.isfile(path) or not foreign_wal(path):
            return None
    except OSError:
        return None  # unreadable: the open says why
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.foreign-{stamp}")
    try:
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if os.path.lexists(side):
                os.rename(side, aside.with_name(aside.name + suffix))
    except OSError as e:
        return (
            f"a restored copy beside another store's -wal, which cannot be moved aside "
            f"({e.strerror}): kept as it is, not opened (SQLite would apply that -wal over "
            f"the copy); move {path.name}-wal and {path.name}-shm away and restart monitord"
        )
    log.warning(
        "outbox %s: a restored copy, beside the -wal of another store (the one it "
        "replaced, with commits in it): that -wal and its -shm moved to %s-wal/-shm, "
        "kept, not applied (they would have overwritten the copy)",
        path,
        aside.name,
    )
    return None


def move_aside(path: Path) -> Path:
    """Rename `path` (file or directory) and its -wal/-shm to `<path>.bad-<UTC time>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bad = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while os.path.lexists(bad):
        bad = path.with_name(f"{path.name}.bad-{stamp}-{n}")
        n += 1
    os.rename(path, bad)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if os.path.lexists(side):
            with contextlib.suppress(OSError):
                os.rename(side, bad.with_name(bad.name + suffix))
    log.debug("moved the unusable store %s to %s (kept, not deleted)", path, bad)
    return bad


# FILE_FAULTS (outbox): SQLite's verdicts on the file itself (not a database; malformed).
# Without them a garbage or corrupt store on a small, nearly full volume (under
# FULL_DISK_BYTES free, yet room for a fresh store) was kept and every start ran from
# memory, the alarm blaming a full disk.


def _bad_file(e: BaseException) -> bool:
    """The open failed on the file's content (a directory, a failed integrity check, not a
    database, malformed), whatever the space: moved aside even on a full disk."""
    if isinstance(e, OutboxError):
        return True
    return isinstance(e, sqlite3.Error) and primary_code(e) in FILE_FAULTS


# SQLite refusing access to an intact file, not judging it: another process holds its lock
# (SQLITE_BUSY, SQLITE_LOCKED: an sqlite3 shell or a copy tool in a write transaction, or
# in exclusive locking mode) or this user may not write it (SQLITE_READONLY, SQLITE_PERM: a
# store left root's by a run as root). Such a store was moved aside as unusable, its
# backlog and the engines' snapshot (active alarms) with it, and the other process went on
# writing to the .bad file. Kept now: the run works from memory and the alarm says what
# to do; the next start, the cause gone, opens the store whole.
ACCESS_FAULTS = {
    5: "held by another process",
    6: "held by another process",
    8: "not writable by this user",
    3: "not writable by this user",
}
ACCESS_FIX = {
    "held by another process": "close the program that has it open (an sqlite3 shell, a "
    "backup or copy tool) and restart monitord",
    "not writable by this user": "give it (with its -wal and -shm files) to the user "
    "monitord runs as, and restart monitord",
    "on a read-only file system": "remount it read-write (a card that remounted itself "
    "read-only is failing: replace it) and restart monitord",
}


def _access_fault(e: BaseException, path: Path) -> str | None:
    if not isinstance(e, sqlite3.Error) or primary_code(e) not in ACCESS_FAULTS:
        return None
    with contextlib.suppress(OSError):
        if os.statvfs(Path(os.path.realpath(path)).parent).f_flag & os.ST_RDONLY:
            return "on a read-only file system"  # no user may write it: not a matter of owner
    return ACCESS_FAULTS[primary_code(e)]


def _card_fault(e: BaseException) -> bool:
    """An I/O error (SQLITE_IOERR, EIO, EROFS): a failing SD card, not a bad file."""
    if isinstance(e, OSError):
        return e.errno in (errno.EIO, errno.EROFS)
    return isinstance(e, sqlite3.Error) and primary_code(e) == SQLITE_IOERR


def _why(e: BaseException) -> str:
    return str(e) or type(e).__name__
