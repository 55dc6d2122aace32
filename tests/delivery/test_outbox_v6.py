"""Schema v6 (issue 20, SD-card writes): readings are out of the history index and found by
measured time through `reading_blocks` (monitord/store/blocks.py).

- A group commit of readings writes no index page (WAL frames mapped to tables with
  `dbstat`, as bench/walpages.py does): fails on the v5 code, whose `records_history`
  leaf is in every commit.
- The readings a report gets for any window equal those of the indexed query they replace
  (run here as a plain scan of the same file): three chairs interleaved, measured time out
  of append order, records from a cuff's memory, block boundaries, a restart in the middle
  of an open block, a prune deleting readings in the middle, rows another connection
  appended into the open block, a rolled-back append; a budget drop of the oldest
  undelivered readings deletes the row of the block it emptied.
- No statement of the report's query, `last_readings`, `recent_readings` or
  `chairs_seen` (status) scans `records` (EXPLAIN QUERY PLAN of every statement they
  run), and on a large store the report of one hour visits a small share of the rows.
- A v5 store written by the v5 code (`data/outbox-v5.sqlite.gz`, `data/make_v5_store.py`)
  migrates: records, queues and counters untouched, the closed blocks filled, the report's
  readings equal to what the v5 code's indexed query gives on the same file.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from monitord.config import StorageConfig
from monitord.models import Kind, Reading, utc
from monitord.outbox import SCHEMA_VERSION, Outbox, to_ns
from monitord.report.load import record_for, session_spans
from monitord.store.blocks import BLOCK_IDS
from tests.delivery.data.make_v5_store import CHAIRS, STEPS, T0, append, batches, play, unpack


def _open(path: Path, **kw: float) -> Outbox:
    return Outbox(path, StorageConfig(path=path, **kw))


def _old_query(
    path: Path, chair: str | None, lo: datetime | None, hi: datetime | None
) -> list[int]:
    """The ids the v5 history query returns (ORDER BY t_ns, id), as a plain scan."""
    args: list[object] = []
    q = "SELECT id FROM records WHERE type = 'reading'"
    if chair is not None:
        q, args = q + " AND chair = ?", [*args, chair]
    if lo is not None:
        q, args = q + " AND t_ns >= ?", [*args, to_ns(lo)]
    if hi is not None:
        q, args = q + " AND t_ns < ?", [*args, to_ns(hi)]
    db = sqlite3.connect(path)
    try:
        return [i for (i,) in db.execute(q + " ORDER BY t_ns, id", args)]
    finally:
        db.close()


def _windows() -> Iterator[tuple[datetime | None, datetime | None]]:
    """Windows over the scenario: sessions, minutes, around the clocks' offsets, the cuff's
    memory days earlier, open-ended ones."""
    yield T0 - timedelta(days=4), T0 - timedelta(days=2)  # the cuff's memory only
    yield T0 - timedelta(minutes=6), T0 - timedelta(minutes=1)  # chair-2's clock
    yield T0 + timedelta(days=9), T0 + timedelta(days=11)  # a clock 10 days ahead
    for m in range(0, STEPS, 45):
        yield T0 + timedelta(seconds=m), T0 + timedelta(seconds=m + 50)
    yield T0 + timedelta(seconds=10), T0 + timedelta(seconds=STEPS - 40, milliseconds=1)
    yield T0 + timedelta(seconds=300), None
    yield None, T0 + timedelta(seconds=20)
    yield None, None


def _same_as_old_query(ob: Outbox, path: Path) -> int:
    n = 0
    for chair in (*CHAIRS, None):
        for lo, hi in _windows():
            got = [r.seq for r, _ in ob.readings(chair, lo, hi)]
            assert got == _old_query(path, chair, lo, hi), (chair, lo, hi)
            n += len(got)
    assert n > 0
    return n


def _blocks(ob: Outbox) -> list[tuple[int, int, int]]:
    return ob._db.execute("SELECT * FROM reading_blocks ORDER BY block").fetchall()


def test_reading_commits_write_no_index_page(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    ob._db.execute("PRAGMA wal_autocheckpoint = 0")
    ob._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL holds only what follows
    for b in batches(120):  # 3 chairs' readings, a group commit each
        ob.add_readings(b.readings, {})
        ob.commit()
    wal = Path(f"{path}-wal").read_bytes()
    size, salts = struct.unpack(">I", wal[8:12])[0], wal[16:24]
    pages, off = set(), 32
    while off + 24 + size <= len(wal) and wal[off + 8 : off + 16] == salts:
        pages.add(struct.unpack(">I", wal[off : off + 4])[0])
        off += 24 + size
    owners = dict(ob._db.execute("SELECT pageno, name FROM dbstat"))
    indexes = {n for (n,) in ob._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    written = {owners.get(p, "other") for p in pages}
    assert "records" in written
    assert not written & indexes, written & indexes
    ob.close()


def test_report_readings_equal_the_indexed_query(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    restart_at = 170  # ids ~1,050: block 1 is open, 24 ids into it
    ahead_id = 0
    for b in batches():
        append(ob, b)
        if b.step == restart_at:
            top = ob._max_id()
            assert top >> 10 == 1 and top % BLOCK_IDS > 0  # in the middle of an open block
            # A monitor whose clock is 10 days ahead: nothing after the restart reaches its
            # measured time, so only the open block's rows read back at open cover it.
            ahead = T0 + timedelta(days=10)
            (ahead_id,) = ob.add_readings(
                [Reading("chair-3", "mon", Kind.HR, {"hr_bpm": 70}, ahead, ahead)], {}
            )
            ob.commit()
            ob.close()  # a daemon restart: the open block's min/max were in memory only
            ob = _open(path)
        if b.step == 250:
            # A prune that drops readings in the middle: InfluxDB confirmed ids 600-1100
            # (readings are routed there only), and they are past retention.
            ids = [i for i in range(600, 1101) if i != ahead_id]
            ob.mark_delivered("influx", ids)
            ob.mark_delivered("mqtt", ids)
            done = ob.prune(now_ns=to_ns(T0) + 400 * 86_400 * 10**9)
            assert done["expired"] == len(ids)
    blocks = _blocks(ob)
    assert [b for b, _, _ in blocks] == [0, 1]  # block 2 (ids 2048..) is still open
    # chair-1's cuff memory (measured 3 days earlier, appended at step 200, in block 1)
    # widens block 1 backwards; chair-2's clock widens both.
    assert blocks[1][1] <= to_ns(T0 - timedelta(days=3)) <= blocks[0][1]
    _same_as_old_query(ob, path)
    # The report of each session: the same readings as through the v5 query.
    for span in session_spans(ob):
        rec = record_for(ob, span)
        assert rec is not None
        lo = utc(span.start_t)
        hi = utc(span.end_t) + timedelta(milliseconds=1) if span.end_t is not None else None
        want = [r.seq for r, _ in ob.readings(span.chair, lo, hi)]
        assert want == _old_query(path, span.chair, lo, hi) and want
    # Stored records (device memory) are there, marked, in measured-time order.
    old = ob.readings("chair-1", T0 - timedelta(days=4), T0 - timedelta(days=2))
    assert [r.stored for r, _ in old] == [True] * 5
    # A prune that empties whole blocks deletes their rows; blocks that kept rows stay.
    ob.mark_delivered("influx", list(range(1, 2100)))
    ob.mark_delivered("mqtt", list(range(1, 2100)))
    ob.prune(now_ns=to_ns(T0) + 400 * 86_400 * 10**9)
    assert [b for b, _, _ in _blocks(ob)] == []  # blocks 0 and 1 are gone entirely
    _same_as_old_query(ob, path)
    assert ob.integrity_check() == "ok"
    ob.close()


def test_rows_from_another_connection_in_the_open_block(tmp_path: Path) -> None:
    """A tool (or a second writer) appending readings into the writer's open block: the
    block's row must still cover them when the writer closes it."""
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    todo = batches(250)
    play(ob, islice(todo, 100))  # ids ~650: block 0 open
    assert not _blocks(ob)
    far = to_ns(T0 + timedelta(days=30))
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO records (id, type, chair, t_ns, body, added_ns) "
        "SELECT max(id) + 1, type, chair, ?, body, added_ns FROM records "
        "WHERE id = (SELECT max(id) FROM records WHERE type = 'reading')",
        (far,),
    )
    db.commit()
    db.close()
    play(ob, todo)  # on across the block boundary: block 0 closes
    assert _blocks(ob)[0][2] == far
    assert _same_as_old_query(ob, path)
    ob.close()


def test_a_rolled_back_append_leaves_no_trace_in_the_blocks(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    todo = batches(250)
    play(ob, islice(todo, 100))
    # A batch that fails to commit (disk full): rolled back and retried later, as the
    # daemon's StoreGuard does. The open block must forget its min/max.
    early = T0 - timedelta(days=200)
    ob.add_readings([Reading("chair-1", "mon", Kind.HR, {"hr_bpm": 1.0}, early, early)], {})
    ob.rollback()
    play(ob, todo)
    ((_, lo, _), *_) = _blocks(ob)
    assert lo > to_ns(early)
    _same_as_old_query(ob, path)
    ob.close()


@contextmanager
def _plans(ob: Outbox) -> Iterator[list[tuple[str, list[str]]]]:
    """Every statement the store's reader runs in the block, with its query plan."""
    seen: list[str] = []
    ob._rdb.set_trace_callback(seen.append)
    out: list[tuple[str, list[str]]] = []
    try:
        yield out
    finally:
        ob._rdb.set_trace_callback(None)
    probe = sqlite3.connect(ob.path)
    for sql in seen:
        if sql.lstrip().upper().startswith("SELECT"):
            plan = [row[3] for row in probe.execute("EXPLAIN QUERY PLAN " + sql)]
            out.append((sql, plan))
    probe.close()


def _big_store(path: Path, hours: int, chairs: int) -> Outbox:
    """`hours` of `chairs` chairs at 2 readings/s, in 10-s group commits."""
    ob = _open(path)
    t0 = T0
    for s in range(0, hours * 3600, 10):
        rs = []
        for k in range(10):
            at = t0 + timedelta(seconds=s + k)
            for c in range(chairs):
                ch = f"chair-{c + 1}"
                rs.append(Reading(ch, "mon", Kind.HR, {"hr_bpm": 70.0}, at, at))
                rs.append(Reading(ch, "ox", Kind.SPO2, {"spo2_pct": 97.0}, at, at))
        ob.add_readings(rs, {})
        ob.commit()
    return ob


def test_queries_scan_no_more_than_their_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite"
    ob = _big_store(path, hours=8, chairs=2)  # 115,200 readings, 113 blocks
    total = ob.count("reading")
    lo, hi = T0 + timedelta(hours=3), T0 + timedelta(hours=4)
    with _plans(ob) as plans:
        got = ob.readings("chair-2", lo, hi)
        last = ob.last_readings("chair-1")
        recent = ob.recent_readings("chair-2", Kind.SPO2, 5)
        chairs = ob.chairs_seen()
    assert len(got) == 7200 and [r.seq for r, _ in got] == _old_query(path, "chair-2", lo, hi)
    assert set(last) == {"hr", "spo2"} and len(recent) == 5
    assert chairs == ["chair-1", "chair-2"]
    assert plans
    for sql, plan in plans:
        # A scan of the partial index (alert and session rows only) is fine; of the table
        # (or an index holding readings), not.
        full = [p for p in plan if p.startswith("SCAN records") and "records_events" not in p]
        assert not full, (sql, plan)
    # Rows visited by the report: the id ranges it reads hold one hour and a block or two.
    ranges = ob._reading_id_ranges(to_ns(lo), to_ns(hi))
    top = ob._max_id()
    visited = sum((top if b is None else b) - a + 1 for a, b in ranges)
    assert 14_400 <= visited <= 14_400 + 3 * BLOCK_IDS < total / 6
    # A scan back (`last_readings` of a kind the chair never had: BP) stops at its bound:
    # contiguous windows from the newest id down, `n` blocks' worth in all.
    windows = ob._id_windows_back(16)
    assert windows[0][1] == top and all(
        a == b + 1 for (_, b), (a, _) in zip(windows[1:], windows[:-1], strict=True)
    )
    assert sum(b - a + 1 for a, b in windows) == 16 * BLOCK_IDS < total
    assert "bp" not in last
    ob.close()


def _dump(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        return {
            t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("records", "pending", "counters", "quarantine", "state")
        }
    finally:
        db.close()


def test_v5_store_migrates(tmp_path: Path) -> None:
    path = unpack(tmp_path)
    v5 = unpack(tmp_path, "untouched.sqlite")
    before = _dump(path)
    # What the v5 code's indexed query gives (a read-only open keeps v5 and its index).
    with Outbox(v5, StorageConfig(path=v5), readonly=True) as ro:
        assert ro.schema_version() == 5
        plan = ro._rdb.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM records WHERE type = 'reading' AND chair = 'x' "
            "AND t_ns >= 0 ORDER BY t_ns, id"
        ).fetchall()
        assert "records_history" in str(plan)
        old: dict[tuple[str | None, Any, Any], list[int]] = {
            (c, lo, hi): [r.seq for r, _ in ro.readings(c, lo, hi)]
            for c in (*CHAIRS, None)
            for lo, hi in _windows()
        }
    ob = _open(path)
    assert ob.schema_version() == SCHEMA_VERSION == 7
    after = _dump(path)
    assert after == before  # no record, queue row or counter rewritten
    names = {n for (n,) in ob._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "records_history" not in names and "records_events" in names
    # Blocks 0 and 1 are complete (ids up to 2,211): their rows; block 2 stays open.
    want = ob._db.execute(
        "SELECT id >> 10, min(t_ns), max(t_ns) FROM records WHERE type = 'reading' "
        "AND id < 2048 GROUP BY 1"
    ).fetchall()
    assert _blocks(ob) == want and len(want) == 2
    for (c, lo, hi), ids in old.items():
        assert [r.seq for r, _ in ob.readings(c, lo, hi)] == ids, (c, lo, hi)
    # Appends go on in the open block and across the next boundary, then a restart.
    more = batches(STEPS + 200)
    for _ in range(STEPS):
        next(more)
    play(ob, more)
    assert [b for b, _, _ in _blocks(ob)] == [0, 1, 2]
    ob.close()
    ob = _open(path)
    _same_as_old_query(ob, path)
    assert ob.integrity_check() == "ok"
    ob.close()


@pytest.mark.parametrize("fn", ["last", "recent"])
def test_last_and_recent_readings_are_append_order(tmp_path: Path, fn: str) -> None:
    """`last_readings`: the live reading stored last per kind (not the newest measured time:
    a device clock behind or a record from memory must not hide the current value)."""
    path = tmp_path / "outbox.sqlite"
    ob = _open(path)
    play(ob, batches(250))
    get: Callable[[], Reading]
    if fn == "last":
        get = lambda: ob.last_readings("chair-1")["bp"]  # noqa: E731
    else:
        get = lambda: ob.recent_readings("chair-1", Kind.BP, 1)[0]  # noqa: E731
    top = ob._db.execute(
        "SELECT max(id) FROM records WHERE type = 'reading' AND chair = 'chair-1' "
        "AND json_extract(body, '$[2]') = 'bp'"
        + (" AND NOT json_extract(body, '$[11]')" if fn == "last" else "")
    ).fetchone()[0]
    assert get().seq == top
    ob.close()


def test_budget_drop_of_the_oldest_readings_keeps_the_blocks_right(tmp_path: Path) -> None:
    """InfluxDB down, the disk budget drops the oldest undelivered readings (a whole block
    and part of the next): the emptied block's row goes, the rest still cover theirs."""
    path = tmp_path / "outbox.sqlite"
    ob = _open(path, max_mb=0.18)  # past a block of ids with v7 bodies
    for b in batches():
        ob.add_readings(b.readings, {})
        ob.commit()
    assert [b for b, _, _ in _blocks(ob)] == [0, 1]
    done = ob.prune()
    first = ob._db.execute("SELECT min(id) FROM records").fetchone()[0]
    assert done["dropped_readings"] == first - 1 and first >> 10 == 1  # block 0 emptied
    assert [b for b, _, _ in _blocks(ob)] == [1]
    _same_as_old_query(ob, path)
    ob.close()
