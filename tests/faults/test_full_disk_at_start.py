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

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.store.space import FULL_DISK_BYTES
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


CORRUPT = """
import os, sys
from pathlib import Path
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from tests.delivery.helpers import alert, reading
path = Path(sys.argv[1])
ob = Outbox(path, StorageConfig(path=path))
for i in range(40):
    ob.add_readings([reading(i * 20 + j) for j in range(20)], {"chair-1": "s-1"})
    ob.add_alert_events([alert(i)])
    ob.commit()
ob.close()
with open(path, "r+b") as f:  # one b-tree page overwritten (a bad SD card sector)
    f.seek(4096 * 5)
    f.write(os.urandom(4096))
"""


@pytest.mark.parametrize(
    ("spoil", "said"),
    [("garbage", "not a database"), ("corrupt", "malformed")],
)
def test_bad_store_on_a_nearly_full_disk_is_replaced(tmp_path: Path, spoil: str, said: str) -> None:
    """A store that is not a database, or that SQLite finds malformed, on a small disk
    with under 1 MiB free but room for a fresh store (a small volume, a container's
    tmpfs): the file is the fault, not the disk. Before, the free space alone decided: it
    was kept, every start ran from memory (nothing kept across a restart) and the alarm
    blamed a full disk. Now it is moved aside and a fresh store made on disk, as for any
    bad store."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        store = disk / "outbox.sqlite"
        if spoil == "garbage":
            store.write_bytes(b"not a database " * 1000)
        else:
            subprocess.run([sys.executable, "-c", CORRUPT, str(store)], check=True)
        filler = fill(disk)
        # Leave 512 KiB: under the 1 MiB mark, ample for a fresh store.
        os.truncate(filler, filler.stat().st_size - (512 << 10))
        assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize < FULL_DISK_BYTES

        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=store), alarms)
        try:
            assert not ob.memory, alarms.active
        finally:
            ob.close()
        assert list(alarms.active) == ["store.replaced"], alarms.active
        assert said in alarms.active["store.replaced"]["text"]
        bad = [p.name for p in disk.iterdir() if p.name.startswith("outbox.sqlite.bad-")]
        assert len([n for n in bad if not n.endswith(("-wal", "-shm"))]) == 1, bad
        assert records(store) == 0


def test_store_linked_to_a_full_disk_is_kept(tmp_path: Path) -> None:
    """`storage.path` a symlink to the store on another disk (a bigger card, an SSD
    mounted elsewhere): the free space was read where the link lives, not where the
    store does, so the full disk's refusal read as a bad store again and the link was
    moved aside (the store out of reach of the next start). Now the space is the store's."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        real = disk / "outbox.sqlite"
        subprocess.run([sys.executable, "-c", WRITE, str(real), "closed"], check=True)
        store = tmp_path / "outbox.sqlite"
        store.symlink_to(real)
        filler = fill(disk)

        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=store), alarms)
        ob.close()
        assert list(alarms.active) == ["store.memory"], alarms.active
        assert "full disk" in alarms.active["store.memory"]["text"]
        assert store.is_symlink() and not [p for p in tmp_path.iterdir() if ".bad-" in p.name]

        filler.unlink()
        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=store), alarms)
        ob.close()
        assert alarms.active == {}
        assert records(real) == 20 * 21
