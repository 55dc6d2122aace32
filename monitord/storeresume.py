"""What a run on a store in memory resumes from the store it kept (monitord/storeopen.py).

A store that is intact but cannot be written now (a full disk, a file system gone
read-only, another process holding it, a user that may not write it, a migration without
room) is kept where it is and the run works from memory. That run started every chair
afresh: the alarms active at the last stop (a high `spo2.very_low` nobody acknowledged, a
latched `bp.crisis` waiting for its ACK) were gone from the station without a `cleared`,
and the session open then with them (its phase, its BP timers, the nurse's next dose end
refused as "no session"), while the file holding them was there to be read
(tests/faults/test_full_disk_restart.py: a `monitord run` stopped and started again on a
full disk).

So the chairs' resume rows (the engine's snapshot, the chair clock, the BP measurements
taken) are read from the kept file, read-only, into the store in memory, and the chairs
start from them as after any restart. A store without commits in a -wal (closed cleanly,
or checkpointed) is its file alone: read as `immutable`, which makes no -wal or -shm
beside it (`mode=ro` does, and on a disk with no room for the -shm cannot read a WAL
store at all). One with commits in its -wal (a daemon killed, another program writing
it) is read with `mode=ro`, its -wal with it, or not at all: the file without it is an
older store. A store of an older schema (an upgrade whose migration had no room) is read
as well: no migration changes the `state` rows, which the next start, migrated, resumes
from as they are (tests/faults/test_migration_no_room.py, the 0.1.0 daemon's store).
Anything that fails leaves the run as it was, fresh, and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from monitord import storememory
from monitord.outbox import Outbox
from monitord.store.base import Durability
from monitord.store.schema import SCHEMA_VERSION

# The rows a chair starts from (monitord/daemon.py, monitord/chair.py `load_seen`).
RESUME_PREFIXES = ("engine/", "clock/", "bp-seen/")


def _read(path: Path, mode: str) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"file:{quote(os.fspath(path))}?{mode}", uri=True, timeout=1.0)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if not 1 <= version <= SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema v{version}, not a monitord store this reads")
        where = " OR ".join(f"substr(key, 1, {len(p)}) = '{p}'" for p in RESUME_PREFIXES)
        return [
            (str(k), str(v)) for k, v in db.execute(f"SELECT key, value FROM state WHERE {where}")
        ]
    finally:
        db.close()


def _has_wal(path: Path) -> bool:
    # Beside the file, not a link to it (storage.path linked to another disk): SQLite
    # keeps the -wal there. Looked for beside the link, a -wal with the last commits was
    # not seen and the file read alone, an older snapshot resumed as the last one.
    wal = os.path.realpath(path) + "-wal"
    with contextlib.suppress(OSError):
        return os.path.getsize(wal) > 0
    return False


def resume(kept: Path, ob: Outbox) -> str:
    """Copy the chairs' resume rows from the kept store at `kept` into `ob` (in memory).
    Returns the clause the `store.memory` alarm adds: what was resumed, or why not."""
    try:
        # No -wal with commits in it: the file alone is the whole store, read as such
        # (SQLite then makes no -wal or -shm beside it, on a full disk or not).
        rows = _read(kept, "mode=ro" if _has_wal(kept) else "immutable=1")
        # All decoded before any is put: a row that is no JSON (garbled in a page
        # quick_check passes, edited by hand) left the rows before it in this store,
        # those chairs resumed while the alarm said they were started afresh.
        values = [(key, json.loads(value)) for key, value in rows]
        for key, value in values:
            ob.put_state(key, value, durability=Durability.NORMAL, commit=False)
        ob.commit()
    except (sqlite3.Error, OSError, ValueError) as e:
        ob.rollback()  # nothing of it stays: the run is as fresh as the alarm says
        return (
            f"the alarms and sessions open at its last stop could not be read from it ({e}): "
            "this run started them afresh"
        )
    chairs = sorted({k.split("/", 1)[1] for k, _ in rows if k.startswith("engine/")})
    if not chairs:
        return "no chair's state in it to resume"
    said = f"the alarms and sessions open at its last stop resumed from it ({', '.join(chairs)})"
    if (start := storememory.since(kept)) is not None:
        # A run in memory came between (its marker is left until a start on the store):
        # what it changed (an ACK, a clear, a session ended) is in no store, and the
        # resumed state is older than what the station showed last (s45 audit). Said, as
        # the nurses see alarms come back that they had dealt with.
        said += (
            f", as they were before the run in memory of {storememory.said_time(start)}: "
            "an acknowledgement, clear or session end since then is not in it"
        )
    return said
