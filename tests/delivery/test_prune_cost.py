"""What a prune costs the writer thread, which alarms queue behind (issue 20;
monitord/store/retention.py).

- The retention DELETE reads a range of the primary key, found by bisecting `added_ns`,
  not the whole table: before, every prune (each minute) read all of a store of up to
  `max_mb` = 512 MB, on the writer thread.
- A row added before a wall-clock step back, lying past that range, goes at a later prune:
  delayed, never kept for good; an undelivered row is kept past retention as before.
- Free pages are given back to the file system when they are many (after deletes) and
  all of them: `execute("PRAGMA incremental_vacuum")` had freed one page a prune (Python
  steps a statement without result columns once). A few free pages are left for SQLite
  to reuse, so a prune does not move pages (SD-card writes) for nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from tests.delivery.helpers import alert, base_time

DAY_NS = 86_400 * 10**9
# The readings are measured from base_time() on, a second apart; `added_ns` is set by the
# tests in seconds after B (retention also needs the measured time past it).
B = int(base_time().timestamp())


def store(path: Path, n: int) -> Outbox:
    """`n` readings of one chair in commits of 100, each delivered."""
    ob = Outbox(path, StorageConfig(path=path, retention_days=1))
    t0 = base_time()
    for i in range(0, n, 100):
        rs = [
            Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, t, t)
            for t in (t0 + timedelta(seconds=j) for j in range(i, i + 100))
        ]
        ids = ob.add_readings(rs, {})
        ob.commit()
        ob.mark_delivered("influx", ids)
    return ob


def added_at(ob: Outbox, ns_of_id: str) -> None:
    """Set every row's `added_ns` (and its measured time, which must be past retention
    too) to B + `ns_of_id` s, an SQL expression of `id`."""
    ns = f"({B} + {ns_of_id}) * 1000000000"
    ob._db.execute(f"UPDATE records SET added_ns = {ns}, t_ns = {ns}")
    ob.commit()


def deletes(ob: Outbox, now_s: int) -> list[str]:
    """Prune at B + `now_s` (retention: 1 day); the DELETEs it ran on `records`."""
    seen: list[str] = []
    ob._db.set_trace_callback(seen.append)
    try:
        ob.prune(now_ns=(B + now_s) * 10**9 + DAY_NS)
    finally:
        ob._db.set_trace_callback(None)
    # (Its trigger's statements are traced too, once a row: not DELETEs of `records`.)
    return sorted({s for s in seen if s.lstrip().upper().startswith("DELETE FROM RECORDS")})


def ids(ob: Outbox) -> list[int]:
    return [r[0] for r in ob._db.execute("SELECT id FROM records ORDER BY id")]


def test_the_retention_delete_reads_a_range_of_the_table(tmp_path: Path) -> None:
    ob = store(tmp_path / "o.sqlite", 20_000)
    first = ids(ob)[0]
    added_at(ob, f"id - {first}")  # one row a second, in id order
    stmts = deletes(ob, now_s=5_000)  # rows added before second 5,000 expire
    assert ids(ob)[0] == first + 5_000 and len(ids(ob)) == 15_000
    # One DELETE per prune step (tests/delivery/test_prune_steps.py), each its own range.
    assert 10 <= len(stmts) <= 12, stmts
    probe = sqlite3.connect(ob.path)
    for stmt in stmts:
        plan = [row[3] for row in probe.execute("EXPLAIN QUERY PLAN " + stmt)]
        # A range of the primary key (the whole table was read before: "SCAN records"),
        # and a lookup of the queue's key per row (the whole queue was read at each
        # statement: "SCAN pending").
        assert any(p.startswith("SEARCH records USING INTEGER PRIMARY KEY") for p in plan)
        assert not [p for p in plan if p.startswith(("SCAN records", "SCAN pending"))], plan
    probe.close()
    ob.close()


def test_a_row_added_before_a_clock_step_back_goes_at_a_later_prune(tmp_path: Path) -> None:
    ob = store(tmp_path / "o.sqlite", 100)
    first = ids(ob)[0]
    # Rows 0-59 added at 0-59 s; the clock then stepped back 100 s: rows 60-99 at -40 to
    # -1 s. An alarm not yet delivered (the broker is down) was added long before.
    added_at(ob, f"CASE WHEN id - {first} < 60 THEN id - {first} "
                 f"ELSE id - {first} - 100 END")  # fmt: skip
    (undelivered,) = ob.add_alerts([alert(0)])
    ob.commit()
    ob._db.execute("UPDATE records SET added_ns = 1, t_ns = 1 WHERE id = ?", (undelivered.id,))
    ob.commit()
    deletes(ob, now_s=30)
    # Rows 0-29 went; rows 60-99, added "before" 30 s, lie past the bound: kept for now.
    left = ids(ob)
    assert left[0] == first + 30 and first + 60 in left and first + 99 in left
    deletes(ob, now_s=60)  # the bound passed them: gone
    assert ids(ob) == [undelivered.id]  # kept past retention until delivered
    ob.close()


def test_free_pages_go_back_all_at_once_and_only_when_many(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = store(path, 20_000)
    first = ids(ob)[0]
    added_at(ob, f"id - {first}")

    def pages() -> tuple[int, int]:
        return (ob._db.execute("PRAGMA page_count").fetchone()[0],
                ob._db.execute("PRAGMA freelist_count").fetchone()[0])  # fmt: skip

    deletes(ob, now_s=200)  # 1 % of the rows: their pages are left to reuse
    total, free = pages()
    assert 0 < free < 0.1 * total, (total, free)
    deletes(ob, now_s=15_000)  # most rows: the file gives their pages back
    total2, free2 = pages()
    assert free2 == 0 and total2 < 0.4 * total, (total, total2)
    assert path.stat().st_size == total2 * 1024  # checkpointed (no writer thread here)
    ob.close()
