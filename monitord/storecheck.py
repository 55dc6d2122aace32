"""When the store's whole-file check runs: before monitoring, or after it has started.

`PRAGMA quick_check` reads every page of the store. On a month of chairs (~300 MB) that
took ~7 s from a cold cache on an x86 VM and may take minutes on a Pi's SD card; run
before the daemon opened its devices, a restarted daemon (after a crash, a watchdog kill,
an upgrade) monitored nothing, its chairs OFFLINE and no alarm possible, all that time.

What can have spoiled the file since it was last found sound decides:
- a process that died (crash, SIGKILL, watchdog) while the machine stayed up cannot
  corrupt an SQLite store in WAL mode: every write it made is in the kernel's hands, and
  SQLite's recovery of the WAL is the same as after a clean stop. So when the file was
  found sound (or created) in this boot, by the kernel's boot id, the daemon monitors
  first and checks the file after, in a thread of its own at the lowest CPU priority (its
  I/O priority follows), on a read-only connection (`check_later`). A file bad all the
  same (the card rotted under a running daemon) is then said by the technical alarm
  `store.unsound`, and the record is forgotten: the next start checks first and moves
  the file aside as storeopen.py does with any bad store;
- a machine that went down (a power blip, a reboot) may have lost or torn writes the
  card claimed were done, and any file without a record (put there by hand, restored,
  left by an older monitord) is unknown: checked before monitoring, as before
  (storeopen.py), a bad one moved aside and a fresh one started.

The record names the store's path and its file's device and inode (a store moved aside
and replaced is another file). It is of this boot by where it is kept: in the runtime
directory (the unit's `RuntimeDirectory=`, a tmpfs emptied at every boot), or beside the
store as `<store>.checked` with the kernel's boot id in it. Under the shipped unit only the
first serves: its `ProcSubset=pid` hides /proc/sys, the boot id with it. With neither (no
runtime directory, the boot id unreadable) nothing is known and the check runs first.
Losing a record only costs a check before monitoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

from monitord.log import drain
from monitord.outbox import FILE_FAULTS, Outbox, primary_code
from monitord.techalarm import TechAlarms, runtime_directory, store_key

log = logging.getLogger("monitord.store")

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# Set by `start_again` for the process it begins again: that store is checked first.
CHECK_FIRST = "MONITORD_CHECK_STORE_FIRST"


def record_path(store: Path) -> Path:
    """The record beside the store: counts only with the kernel's boot id in it."""
    return store.with_name(store.name + ".checked")


def runtime_record(store: Path) -> Path:
    """The record in the runtime directory: a tmpfs emptied at every boot, so the record
    is of this boot by where it is. The shipped unit's `ProcSubset=pid` hides /proc/sys
    (the boot id) from the daemon: this one is what serves under systemd."""
    return runtime_directory() / f"checked-{store_key(store)}.json"


def _records(store: Path, me: dict[str, object]) -> list[Path]:
    """Where a record of `me` counts: in the runtime directory when there is one, beside
    the store when the boot id could be read."""
    places = [runtime_record(store)] if runtime_directory().is_dir() else []
    return [*places, record_path(store)] if "boot" in me else places


def _identity(store: Path) -> dict[str, object] | None:
    """The store's file (path, device, inode) and this boot's id when it can be read, or
    None when the file cannot be known."""
    try:
        st = os.stat(store)
    except OSError:
        return None
    me: dict[str, object] = {"store": os.path.realpath(store), "dev": st.st_dev, "ino": st.st_ino}
    with contextlib.suppress(OSError):
        if boot := BOOT_ID.read_text().strip():
            me["boot"] = boot
    return me


def sound_this_boot(store: Path) -> bool:
    """The store's file was found sound (or created) in this boot: checking it can wait.
    Neither a runtime directory nor the boot id: not known, checked first. Begun again
    after a bad page at the start (`start_again`): checked first, whatever the record."""
    me = _identity(store)
    if me is None or os.environ.get(CHECK_FIRST) == me["store"]:
        return False
    for path in _records(store, me):
        try:
            if json.loads(path.read_text()) == me:
                return True
        except (OSError, ValueError):
            continue
    return False


def note_sound(store: Path) -> None:
    """Record that the store's file is sound in this boot (not fsynced: a record lost
    with a power loss is one a new boot would not match anyway)."""
    me = _identity(store)
    if me is None:
        return
    for path in _records(store, me):
        part = path.with_name(path.name + ".part")
        try:
            part.write_text(json.dumps(me))
            os.replace(part, path)
        except OSError as e:  # the check runs before monitoring next time; not a fault
            log.debug("cannot record the store's check in %s (%s)", path, e)


def forget(store: Path) -> None:
    for path in (runtime_record(store), record_path(store)):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _quick_check(path: Path, conns: list[sqlite3.Connection]) -> str:
    """`PRAGMA quick_check(5)` on a read-only connection, at the lowest CPU priority for
    this thread only (Linux: a thread's own nice value; the I/O scheduler derives the
    thread's I/O priority from it)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
    conns.append(db)
    try:
        rows = db.execute("PRAGMA quick_check(5)").fetchall()
    finally:
        db.close()
    return "; ".join(str(r[0]) for r in rows)


def _settle(done: asyncio.Future[str], result: str | None, e: BaseException | None) -> None:
    if done.done():  # cancelled: the daemon stops
        return
    if e is not None:
        done.set_exception(e)
    else:
        done.set_result(result or "")


async def check_later(ob: Outbox, alarms: TechAlarms) -> None:
    """The whole-file check storeopen.py left for after the start (`ob.unchecked`), in a
    thread of its own; cancelled (the daemon stops), it is interrupted."""
    if ob.memory or not ob.unchecked:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    conns: list[sqlite3.Connection] = []

    def work() -> None:
        try:
            result: str | None = _quick_check(ob.path, conns)
            error: BaseException | None = None
        except BaseException as e:  # told to the loop, judged there
            result, error = None, e
        # A stop interrupts the check and may close the loop before this thread gets here:
        # nobody waits for the answer then (call_soon_threadsafe raises on a closed loop,
        # which read as "thread store-check crashed (a bug)" at every such stop).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, done, result, error)

    t0 = time.monotonic()
    log.info("store %s: monitoring; its whole-file check runs meanwhile", ob.path)
    threading.Thread(target=work, name="store-check", daemon=True).start()
    try:
        check = await done
    except asyncio.CancelledError:
        for db in conns:
            with contextlib.suppress(sqlite3.Error):
                db.interrupt()
        raise
    except (sqlite3.Error, OSError) as e:
        if isinstance(e, sqlite3.Error) and primary_code(e) in FILE_FAULTS:
            check = str(e)
        else:
            forget(ob.path)
            log.warning("store %s: its whole-file check failed (%s); the next start "
                        "checks it before monitoring", ob.path, e)  # fmt: skip
            return
    if check == "ok":
        ob.unchecked = False
        note_sound(ob.path)
        log.info("store %s: whole-file check passed (%.1f s)", ob.path, time.monotonic() - t0)
        return
    forget(ob.path)
    alarms.raise_("store.unsound", unsound_text(ob.path, f"integrity check: {check}"))


def unsound_text(path: Path, what: str) -> str:
    return (
        f"the store {path} is unusable ({what}): monitoring goes on, but what it holds may "
        "not all be kept; restart monitord when no chair is in use: the start moves it "
        f"aside to {path.name}.bad-<UTC time> and starts a fresh one (engine state and "
        "local history start empty)"
    )


def unsound_write(ob: Outbox, e: BaseException, alarms: TechAlarms) -> bool:
    """A commit refused for a bad page of the file (SQLITE_CORRUPT, NOTADB: a store run
    unchecked until its late check, or a card rotting under the daemon): said as the bad
    file it is (`store.unsound`, what to do), not as a bug of monitord's, and the record
    forgotten so the next start checks first and moves it aside. The caller has dropped
    the batches (retrying cannot mend a page) and shown their alarms live. False when `e`
    is not that."""
    if ob.memory or not (isinstance(e, sqlite3.DatabaseError) and primary_code(e) in FILE_FAULTS):
        return False
    forget(ob.path)
    what = (
        f"a write: {e}; new readings and alert events cannot all be stored: alarms show "
        "here and in the active set, not sent as events to the station"
    )
    alarms.raise_("store.unsound", unsound_text(ob.path, what))
    return True


def start_again(store: Path, e: BaseException) -> None:
    """The start met a malformed page (`e`) in a store whose check it had left for later:
    the record is forgotten and the command begins again in this process (exec: the same
    pid for systemd, the store's lock and files closed with it), this time checking the
    store first, so a bad one is moved aside and a fresh one started (storeopen.py). Kept
    as it was, the start failed with a traceback and the chair had no monitoring at all.
    Returns when `e` is not that (the caller re-raises it)."""
    if not (
        isinstance(e, sqlite3.DatabaseError)
        and primary_code(e) in FILE_FAULTS
        and sound_this_boot(store)
    ):
        return  # also once begun again: it checked first (CHECK_FIRST), no second exec
    forget(store)
    # Told to the process begun again by its environment, not by the record: one that
    # cannot be removed (a card gone read-only) made every start fail the same way.
    os.environ[CHECK_FIRST] = os.path.realpath(store)
    log.warning("store %s: %s at the start, its check left for later: starting again, "
                "checking it first", store, e)  # fmt: skip
    drain()  # the log's lines held by its writer thread (monitord/logwriter.py), first
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.execv(sys.executable, sys.orig_argv)
