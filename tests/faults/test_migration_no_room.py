"""An upgrade on a card without room for the store's migration (a 0.1.0 store, schema v3,
whose v3 -> v4 step rewrites the whole records table into the WAL).

Before: the disk ran out in the step, SQLite rolled the transaction back itself, and the
daemon's own ROLLBACK then raised "cannot rollback - no transaction is active" in place of
the reason: the alarm read `on a full disk (0 bytes free; cannot rollback - no transaction
is active)`, and the step's WAL was left on the disk, which stayed full for everything
else on the Pi (journald) while the daemon ran from memory. The store was kept only
because that WAL left under 1 MiB free: any other failed step (or a little space left) read
as a bad store, moved aside with its backlog and the engines' snapshot.

Now a failed step is rolled back once, its WAL given back, the store kept as it was
whatever the space (never moved aside), and the alarm names the step, SQLite's reason and
the space it needs. With room made, the next start migrates it with every record and the
0.1.0 daemon's active alarm. Real parts: a tmpfs mounted by the test, the store written by
the 0.1.0 daemon (tests/delivery/data/make_v010_daemon_store.py), grown with copies of its
own readings as 0.1.0 stored them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import SCHEMA_VERSION
from monitord.store.space import FULL_DISK_BYTES
from monitord.storeopen import open_store
from monitord.techalarm import TechAlarms
from tests.faults.storekit import remount, tmpfs

FIXTURE = Path(__file__).parents[1] / "delivery" / "data" / "outbox-v010-daemon.sqlite"
ROOM = 3 << 20  # free beside the store: well above FULL_DISK_BYTES, below what the step needs


def big_v3_store(path: Path) -> None:
    """The 0.1.0 daemon's store with its readings doubled 13 times (~8 MB, every one
    pending for InfluxDB as the outage left them), at schema v3 as it was."""
    shutil.copy(FIXTURE, path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        for _ in range(13):
            db.execute(
                "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
                "SELECT type, chair, t_ns + 1000 * (SELECT max(id) FROM records), body, "
                "influx, mqtt, added_ns FROM records WHERE type = 'reading'"
            )
            db.commit()
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def contents(path: Path) -> tuple[int, int, int, str]:
    """(schema version, records, InfluxDB backlog, the snapshot's active alert id)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        v = db.execute("PRAGMA user_version").fetchone()[0]
        n = db.execute("SELECT count(*) FROM records").fetchone()[0]
        if v < 4:
            pend = db.execute("SELECT count(*) FROM records WHERE influx = 0").fetchone()[0]
        else:
            pend = db.execute("SELECT count(*) FROM pending WHERE sink = 'influx'").fetchone()[0]
        snap = db.execute("SELECT value FROM state WHERE key = 'engine/chair-9'").fetchone()[0]
    alert = json.loads(snap)["chairs"]["chair-9"]["alerts"]["spo2.very_low"]["id"]
    return v, n, pend, alert


def test_an_upgrade_without_room_keeps_the_store_and_says_what_it_needs(
    tmp_path: Path,
) -> None:
    src = tmp_path / "v3.sqlite"
    big_v3_store(src)
    before = contents(src)
    size = src.stat().st_size
    assert size > 2 * ROOM
    with tmpfs(tmp_path / "card", str(size + ROOM)) as card:
        store = card / "outbox.sqlite"
        shutil.copy(src, store)
        free_before = shutil.disk_usage(card).free
        assert FULL_DISK_BYTES < free_before < size

        alarms = TechAlarms(None)
        ob = open_store(StorageConfig(path=store), alarms)
        try:
            assert ob.memory
            # This run starts its chairs from the store it kept, the 0.1.0 daemon's
            # active alarm with them, as the next start, migrated, does (before: afresh,
            # the alarm gone from the station; monitord/storeresume.py).
            snap = ob.get_state("engine/chair-9")
            assert snap["chairs"]["chair-9"]["alerts"]["spo2.very_low"]["id"] == before[3]
        finally:
            ob.close()
        text = alarms.active["store.memory"]["text"]
        assert text.endswith("resumed from it (chair-9)"), text
        assert "not migrated to schema v4 (database or disk is full)" in text, text
        assert "kept as it was (v3)" in text and f"the store's {size / 1e6:.0f} MB" in text
        assert "cannot rollback" not in text
        assert "store.replaced" not in alarms.active
        # The store as the 0.1.0 daemon left it, where it was; the step's WAL given back.
        assert sorted(os.listdir(card)) == ["outbox.sqlite"]
        assert contents(store) == before
        # (before: 0 bytes free, the step's WAL filling the card; a few pages of tmpfs's
        # own bookkeeping may stay)
        assert shutil.disk_usage(card).free > free_before - (64 << 10)

        # Room made (the card's other files cleared, here: the file system grown): the
        # next start migrates it, every record and the active alarm kept.
        remount(card, f"size={3 * size}")
        alarms = TechAlarms(None)
        ob = open_store(StorageConfig(path=store), alarms)
        try:
            assert not ob.memory and alarms.active == {}
        finally:
            ob.close()
        assert contents(store) == (SCHEMA_VERSION, *before[1:])
