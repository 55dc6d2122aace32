"""Durability is the caller's explicit choice (`Durability`), not read from a key's prefix:
an engine key written NORMAL is not fsynced, a status key written SYNC is, and a SYNC write
arriving in an open NORMAL transaction upgrades it (the NORMAL part commits first)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Durability, Outbox

FULL, NORMAL = 2, 1  # PRAGMA synchronous values


def _sync_level(ob: Outbox) -> int:
    # The level the open transaction will commit with (SQLite fixes it at BEGIN).
    return int(ob._db.execute("PRAGMA synchronous").fetchone()[0])


def _open(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def test_durability_is_the_parameter_not_the_key(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    ob.put_state("engine/chair-1", {"v": 1}, durability=Durability.NORMAL, commit=False)
    assert _sync_level(ob) == NORMAL
    ob.commit()
    assert _sync_level(ob) == FULL  # back to the default once the transaction is done
    ob.put_state("chair/chair-1", {"v": 2}, durability=Durability.SYNC, commit=False)
    assert _sync_level(ob) == FULL
    ob.commit()
    ob.close()
    ro = Outbox(tmp_path / "outbox.sqlite", StorageConfig(), readonly=True)
    assert ro.get_state("engine/chair-1") == {"v": 1}
    assert ro.get_state("chair/chair-1") == {"v": 2}
    ro.close()


def test_sync_write_upgrades_an_open_normal_transaction(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    ob.put_state("daemon", {"pid": 1}, durability=Durability.NORMAL, commit=False)
    assert _sync_level(ob) == NORMAL
    ob.put_state("engine/chair-1", {"v": 1}, durability=Durability.SYNC, commit=False)
    assert _sync_level(ob) == FULL
    # the NORMAL part was committed before the SYNC transaction began: another
    # connection sees it while the SYNC one is still open
    other = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert other.execute("SELECT key FROM state").fetchall() == [("daemon",)]
    other.close()
    ob.commit()
    ob.close()
