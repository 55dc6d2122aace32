"""Schema v5 (issue 20, SD-card writes): a group commit of readings rewrites neither the
byte counter's row nor `sqlite_sequence`, and record ids are still never reused.

- A new store is created at v5 directly, without AUTOINCREMENT on `records`; apart from
  that it equals what the migration chain gives an old store.
- The WAL frames of append commits (read from the WAL, pages mapped to tables with
  `dbstat`, as bench/walpages.py does) hold no `counters` and no `sqlite_sequence` page.
- The disk budget's byte count stays exact: a v4 store migrated, appends after it, prunes
  deleting rows counted and not yet counted, a reopen.
- Ids: a prune that drops the newest undelivered readings while a sink holds them (its
  delivery mark arrives after the drop) must not let new rows take those ids, or the
  stale mark would delete the new rows' queue entries and they would never be delivered.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path

from helpers import alert, reading

from monitord.config import StorageConfig
from monitord.outbox import SCHEMA_VERSION, Outbox
from monitord.store.schema import MIGRATIONS, split_sql

FIXTURE = Path(__file__).resolve().parent / "data" / "outbox-v3.sqlite"


def _open(path: Path, **kw: float) -> Outbox:
    return Outbox(path, StorageConfig(path=path, **kw))


def _size(ob: Outbox) -> int:
    (size,) = ob._db.execute("SELECT coalesce(sum(length(body) + 64), 0) FROM records").fetchone()
    return int(size)


def _wal_tables(path: Path) -> tuple[int, set[str]]:
    """(commits, tables and indexes whose pages the WAL's frames hold): the frames of the
    current generation (header salts), each a 24-byte header + a page."""
    wal = Path(f"{path}-wal").read_bytes()
    size, salts = struct.unpack(">I", wal[8:12])[0], wal[16:24]
    pages, commits, off = set(), 0, 32
    while off + 24 + size <= len(wal) and wal[off + 8 : off + 16] == salts:
        page, after = struct.unpack(">II", wal[off : off + 8])
        pages.add(page)
        commits += after != 0
        off += 24 + size
    db = sqlite3.connect(path)  # the same process: reads through the WAL
    owners = dict(db.execute("SELECT pageno, name FROM dbstat"))
    db.close()
    return commits, {owners.get(p, "other") for p in pages}


def _layout(path: Path) -> dict[str, object]:
    db = sqlite3.connect(path)
    try:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master ORDER BY name")]
        return {
            "objects": names,
            "columns": {
                t: db.execute(f"PRAGMA table_xinfo({t})").fetchall()
                for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            },
            "indexes": db.execute(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY 1"
            ).fetchall(),
            "triggers": db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY 1"
            ).fetchall(),
            "counters": db.execute("SELECT * FROM counters ORDER BY name").fetchall(),
            "version": db.execute("PRAGMA user_version").fetchone()[0],
        }
    finally:
        db.close()


def test_a_new_store_is_the_migrated_schema_without_autoincrement(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite"
    _open(fresh).close()
    chain = tmp_path / "chain.sqlite"
    db = sqlite3.connect(chain, isolation_level=None)
    for i, script in enumerate(MIGRATIONS):
        for stmt in split_sql(script):
            db.execute(stmt)
        db.execute(f"PRAGMA user_version = {i + 1}")
    db.close()
    a, b = _layout(fresh), _layout(chain)
    assert a == b and a["version"] == SCHEMA_VERSION == 7
    sql = {
        p: sqlite3.connect(p).execute("SELECT sql FROM sqlite_master WHERE name = 'records'")
        for p in (fresh, chain)
    }
    assert "AUTOINCREMENT" not in sql[fresh].fetchone()[0]
    assert "AUTOINCREMENT" in sql[chain].fetchone()[0]


def test_append_commits_write_no_counter_or_sequence_page(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    ob._db.execute("PRAGMA wal_autocheckpoint = 0")
    ob._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL holds only what follows
    for k in range(30):  # a chair's group commits: readings, their queue rows
        ob.add_readings([reading(k * 10 + j) for j in range(10)], {"chair-1": "s-1"})
        ob.commit()
    commits, written = _wal_tables(path)
    assert commits == 30
    assert {"records", "pending"} <= written
    assert "counters" not in written and "sqlite_sequence" not in written
    assert ob._db_bytes() == _size(ob)
    ob.close()


def test_byte_count_exact_across_migration_appends_prunes_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, path)
    ob = _open(path)
    assert ob.schema_version() == SCHEMA_VERSION
    counted, upto = ob._bytes_counter()
    assert upto == ob._max_id() and counted == _size(ob) == ob._db_bytes()
    ids = ob.add_readings([reading(i) for i in range(100)], {"chair-1": "s-9"})
    ob.add_alert_events([alert(7)])
    ob.commit()
    assert ob._bytes_counter() == (counted, upto)  # appends leave the counter row alone
    assert ob._db_bytes() == _size(ob)
    # Delete counted rows and rows not yet counted: both come off exactly once.
    ob._db.execute("DELETE FROM records WHERE id IN (?, ?, ?)", (1, 2, ids[5]))
    assert ob._db_bytes() == _size(ob)
    ob.prune()  # settles the count
    assert ob._bytes_counter() == (_size(ob), ob._max_id())
    ob.mark_delivered("influx", ids[:50])
    ob.close()
    ob = _open(path, max_mb=0.001)
    assert ob._db_bytes() == _size(ob)
    ob.add_readings([reading(i) for i in range(200, 230)], {"chair-1": "s-9"})
    ob.commit()
    done = ob.prune()  # over budget: delivered rows, then undelivered readings go
    assert done["pruned_early"] > 0 and done["dropped_readings"] > 0
    assert ob._db_bytes() == _size(ob)
    ob.close()


def _ids_survive_a_drop_of_the_newest(path: Path) -> None:
    ob = _open(path, max_mb=0.0001)
    ob.add_alert_events([alert(1)])  # alert events are never dropped
    ob.commit()
    sent = ob.add_readings([reading(i) for i in range(200)], {"chair-1": "s-1"})
    ob.commit()
    in_flight = [r.id for r in ob.fetch("influx", 1000) if r.id in sent]
    assert in_flight == sent  # the sink is posting them to InfluxDB
    done = ob.prune()  # InfluxDB is slow: the budget drops every undelivered reading
    assert done["dropped_readings"] >= 200 and ob._max_id() < sent[0]
    new = ob.add_readings([reading(i) for i in range(300, 310)], {"chair-1": "s-1"})
    ob.commit()
    ob.mark_delivered("influx", in_flight)  # the server answered: a stale mark
    assert min(new) > max(sent)
    assert [r.id for r in ob.fetch("influx", 1000) if r.type == "reading"] == new
    ob.close()
    # After a restart: above what the quarantine still names (its rows outlive their
    # record until their own retention), though the newest rows are gone.
    ob = _open(path)
    q = ob.fetch("influx", 1000)[-1].id
    assert q == max(new)
    ob.quarantine("influx", [(q, "rejected", None)])
    ob._db.execute("DELETE FROM records WHERE id >= ?", (min(new),))
    ob._db.execute("DELETE FROM pending WHERE record_id >= ?", (min(new),))
    ob.close()
    ob = _open(path)
    (again,) = ob.add_readings([reading(400)], {})
    ob.commit()
    assert again > q
    ob.close()


def test_ids_are_never_reused_after_a_prune_dropped_the_newest(tmp_path: Path) -> None:
    _ids_survive_a_drop_of_the_newest(tmp_path / "outbox.sqlite")


def test_ids_never_reused_in_a_migrated_autoincrement_store(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, path)
    ob = _open(path)
    top = ob._max_id()
    ob._db.execute("DELETE FROM pending")
    ob._db.execute("DELETE FROM records")
    ob.close()
    ob = _open(path)
    (first,) = ob.add_readings([reading(1)], {})
    ob.commit()
    assert first > top  # sqlite_sequence still counts in an old store
    ob.close()
    _ids_survive_a_drop_of_the_newest(path)


def test_status_counters_show_no_bookkeeping(tmp_path: Path) -> None:
    ob = _open(tmp_path / "outbox.sqlite")
    ob.add_readings([reading(i) for i in range(5)], {})
    ob.commit()
    ob.prune()  # moves `bytes_upto` on
    assert ob._bytes_counter()[1] == ob._max_id() > 0
    assert "bytes_upto" not in ob.counters()
    ob.close()
