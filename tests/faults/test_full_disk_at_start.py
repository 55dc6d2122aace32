"""A daemon started while the disk under its store is full (found by
tests/faults/test_chain_chaos_store.py: the daemon SIGKILLed and restarted while another
file had filled the disk).

Before, the start read the full disk's refusal ("database or disk is full", or "disk I/O
error" when SQLite could not create the store's -shm file) as a bad store: the intact
store was moved aside to `<store>.bad-<time>` and a fresh one tried (which failed too).
Its undelivered backlog (MQTT alert events, InfluxDB rows) and the engines' snapshot went
out of reach: the next start, with space freed, began on an empty store, so a real
chair's active alarms were not resumed and the backlog never went out.

Now an intact store on a full disk is kept where it is; this run works from memory with
the alarm `store.memory` saying the disk is full, and the next start (space freed) opens
the store with everything in it. Real parts: a tmpfs mounted by the test, filled to
ENOSPC by another file; the store written by a real Outbox (closed, or left by a process
that died without closing it: WAL and -shm on disk).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.storeopen import open_store
from monitord.techalarm import TechAlarms
from tests.faults.storekit import fill, tmpfs

WRITE = """
import os, sys
from pathlib import Path
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import alert, reading
path = Path(sys.argv[1])
ob = Outbox(path, StorageConfig(path=path))
for i in range(20):
    ob.add_readings([reading(i * 20 + j) for j in range(20)], {"chair-1": "s-1"})
    ob.add_alert_events([alert(i)])
    ob.commit()
if sys.argv[2] == "killed":
    os._exit(0)  # no close: the WAL and -shm stay, as after a SIGKILL
ob.close()
"""


def records(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize("ended", ["closed", "killed"])
def test_store_on_a_full_disk_is_kept_not_moved_aside(tmp_path: Path, ended: str) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        store = disk / "outbox.sqlite"
        subprocess.run([sys.executable, "-c", WRITE, str(store), ended], check=True)
        filler = fill(disk)

        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=store), alarms)
        ob.close()
        assert sorted(p.name for p in disk.iterdir() if ".bad-" in p.name) == []
        assert store.exists()
        if ended == "closed":
            # No -shm to open it with (SQLite cannot create one): this run from memory.
            assert list(alarms.active) == ["store.memory"], alarms.active
            text = alarms.active["store.memory"]["text"]
            assert "full" in text and "not moved aside" in text, text
        else:
            # Its WAL and -shm are there: opened, the writes to hold (monitord/storeguard.py).
            assert alarms.active == {}, alarms.active

        # Space freed, the next start opens the same store with everything in it.
        filler.unlink()
        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=store), alarms)
        ob.close()
        assert alarms.active == {}
        assert records(store) == 20 * 21
