"""Issue 20 (`inf`): `Outbox.fetch(sink, limit, after=)` reads only ids above `after` and
decodes lazily, so a sink fetching small slices pays for the rows it gets, not for its
backlog.

Delivery marks are held in memory by a store with a writer thread (`use_writer`); the
writer's jobs run here when the test says so (as in test_fetch_marks_race.py), on the
real SQLite file. Decodes are counted by wrapping `stored_record`; the rows the query
hands over by wrapping the read connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import reading

import monitord.store.codec as codec
import monitord.store.delivery as delivery
from monitord.config import StorageConfig
from monitord.outbox import Outbox


class CountingConn:
    """A read connection that counts the rows its queries hand over."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn, self.rows = conn, 0

    def execute(self, q: str, args: Any = ()) -> Iterator[Any]:
        def count(row: Any) -> Any:
            self.rows += 1
            return row

        return map(count, self.conn.execute(q, args))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Outbox, list[int], list[Callable[[], object]]]]:
    """1,200 readings committed; the first 500 delivered to "influx", their marks held
    (the writer's job queued, not run)."""
    p = tmp_path / "outbox.sqlite"
    ob = Outbox(p, StorageConfig(path=p))
    jobs: list[Callable[[], object]] = []
    ob.use_writer(jobs.append)
    ids = ob.add_readings([reading(i) for i in range(1200)], {})
    ob.commit()
    ob.mark_delivered("influx", ids[:500])
    assert jobs and ob.marks_held() == 500
    yield ob, ids, jobs
    ob.close()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = codec.stored_record

    def counting(i: int, *a: Any) -> Any:
        seen.append(i)
        return real(i, *a)

    monkeypatch.setattr(delivery, "stored_record", counting)
    return seen


def test_fetch_decodes_only_what_it_returns_while_marks_are_held(
    store: tuple[Outbox, list[int], list[Callable[[], object]]], decodes: list[int]
) -> None:
    ob, ids, _ = store
    assert [r.id for r in ob.fetch("influx", 16)] == ids[500:516]
    assert len(decodes) <= 16 + 2, len(decodes)
    # The writer's transaction deleted the queue rows of the 500 marks but has not yet
    # un-held them (the moment between its COMMIT and `marks_committed`): the query's
    # LIMIT (16 + the 500 held) then lets 516 pending rows through. Before, all of them
    # were decoded and 500 thrown away; now decoding stops at 16.
    written = ob.write_held_marks()
    ob.commit()
    decodes.clear()
    assert [r.id for r in ob.fetch("influx", 16)] == ids[500:516]
    assert len(decodes) <= 16 + 2, len(decodes)
    ob.marks_committed(written)
    assert ob.marks_held() == 0 and ob.backlog("influx") == 700


def test_after_skips_the_held_rows_in_the_query(
    store: tuple[Outbox, list[int], list[Callable[[], object]]], decodes: list[int]
) -> None:
    ob, ids, jobs = store
    real = ob._rdb
    conn = CountingConn(real)
    ob._rdb = conn  # type: ignore[assignment]  # a test double
    try:
        got = [r.id for r in ob.fetch("influx", 16, after=ids[499])]
        assert got == ids[500:516]
        assert conn.rows <= 16 + 2, conn.rows  # the 500 held rows never left SQLite
        assert len(decodes) <= 16 + 2
        conn.rows = 0
        assert [r.id for r in ob.fetch("influx", 16)] == ids[500:516]
        assert conn.rows >= 500  # without `after` they are read, then skipped
        # Only ids above `after`, in id order, none held, at most `limit`.
        got = [r.id for r in ob.fetch("influx", 40, after=ids[700])]
        assert got == ids[701:741]
        assert [r.id for r in ob.fetch("influx", 40, after=ids[-3])] == ids[-2:]
        assert ob.fetch("influx", 40, after=ids[-1]) == []
        # A held mark above `after` is still skipped.
        ob.mark_delivered("influx", [ids[800]])
        got = [r.id for r in ob.fetch("influx", 5, after=ids[798])]
        assert got == [ids[799], *ids[801:805]]
    finally:
        ob._rdb = real
    while jobs:  # the writer writes the marks: the same rows pending on disk
        jobs.pop(0)()
    assert ob.backlog("influx") == 1200 - 501


def test_a_time_budget_stops_decoding_early_and_after_resumes(
    store: tuple[Outbox, list[int], list[Callable[[], object]]], decodes: list[int]
) -> None:
    """`budget_s` (the InfluxDB sink's slices): decoding stops once the budget is spent,
    after at least one row, and the caller resumes above the last id it got: the rows
    come in order, each once, none skipped."""
    ob, ids, _ = store
    assert [r.id for r in ob.fetch("influx", 40, budget_s=0.0)] == [ids[500]]
    assert len(decodes) == 1
    got: list[int] = []
    after = ids[499]
    while part := ob.fetch("influx", 40, after=after, budget_s=0.0):
        got += [r.id for r in part]
        after = part[-1].id
    assert got == ids[500:]
    # No budget (or an ample one): the limit alone.
    assert [r.id for r in ob.fetch("influx", 40, after=ids[499], budget_s=60)] == ids[500:540]
