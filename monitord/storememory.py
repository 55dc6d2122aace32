"""A run on a store in memory (`store.memory`, monitord/storeopen.py) keeps nothing: a
session started, dosed and ended then is in no store, and one open then lacks that time's
vitals and events. Without a word in the store, the next report on it read such a time as
nothing held (a session simply absent) or as monitord stopped (docs/report.md, "A run on
a store in memory").

So a run in memory leaves a marker in the runtime directory (RAM, writable when the card
is not: `memory-<store key>.json`, its start time), and the next start on the real store
moves it into the store as a time not recorded, `store/unrecorded` in its `state` table:
from that run's start to this start (the daemon may have stopped before: the span is
never too short). The runtime directory is emptied at a reboot: a run in memory followed
by a reboot before a start on the store leaves no marker (said in docs/report.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path

from monitord.outbox import Outbox
from monitord.store.base import Durability
from monitord.store.replaced import MAX_UNRECORDED, UNRECORDED_KEY
from monitord.techalarm import runtime_directory, store_key

log = logging.getLogger("monitord.store")


def marker(store: Path) -> Path:
    return runtime_directory() / f"memory-{store_key(store)}.json"


def said_time(t: float) -> str:
    """A run in memory's start as the journal and the `store.memory` alarm say it."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def since(store: Path) -> float | None:
    """When a run in memory on `store` started that no start on the store has taken in
    since (its marker), or None."""
    try:
        return float(json.loads(marker(store).read_text())["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def carry(ob: Outbox, store: Path) -> None:
    """At a start: in memory, leave the marker (the first run in memory's, if one is
    there already); on the real store, move a marker left into it."""
    path = marker(store)
    if ob.memory:
        if not path.exists():
            with contextlib.suppress(OSError):
                path.write_text(json.dumps({"since": time.time()}))
        return
    if (start := since(store)) is None:
        return
    rows = [*(ob.get_state(UNRECORDED_KEY) or []), {"from": start, "to": time.time()}]
    try:
        ob.put_state(UNRECORDED_KEY, rows[-MAX_UNRECORDED:], durability=Durability.SYNC)
    except (sqlite3.Error, OSError):
        return  # the marker stays: the next start tries again
    with contextlib.suppress(OSError):
        os.unlink(path)
    log.warning(
        "store %s: a run on a store in memory since %s kept nothing: that time is not "
        "recorded here, and reports on it say so",
        store,
        said_time(start),
    )
