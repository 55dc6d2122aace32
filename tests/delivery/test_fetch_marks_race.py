"""A sink never fetches a row it has just marked delivered, even when the writer thread
commits the mark while the fetch's query is running (issue 20's writer thread).

The interleaving is forced, not waited for: the store's read connection is wrapped so the
writer's job (the real `_write_marks` on the real SQLite file) runs after the query's first
row, i.e. after its WAL snapshot began, exactly where the thread can run in the daemon. The
only stand-in is the `submit` that hands the job over (run here, on cue, instead of in the
thread). Before the fix, the rows un-held by that commit came back from the old snapshot:
the InfluxDB sink wrote them twice, the MQTT sink would publish an alert event twice."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers import alert, reading

from monitord.config import StorageConfig
from monitord.outbox import Outbox


class QueryThenCommit:
    """A read connection whose query yields its first row, then lets `between` run."""

    def __init__(self, conn: sqlite3.Connection, between: Callable[[], None]) -> None:
        self.conn, self.between = conn, between

    def execute(self, q: str, args: Any = ()) -> Iterator[Any]:
        cur = self.conn.execute(q, args)
        first = cur.fetchone()  # the statement's snapshot is taken
        self.between()
        return itertools.chain([first] if first is not None else [], cur)


def test_rows_marked_while_the_fetch_query_runs_are_not_fetched_again(tmp_path: Path) -> None:
    p = tmp_path / "outbox.sqlite"
    ob = Outbox(p, StorageConfig(path=p))
    jobs: list[Callable[[], object]] = []
    ob.use_writer(jobs.append)  # the writer's jobs run when the test says so
    ids = ob.add_readings([reading(i) for i in range(10)], {})
    aids = ob.add_alert_events([alert(0), alert(1), alert(2)])
    ob.commit()

    delivered = ids[:5]
    ob.mark_delivered("influx", delivered)  # held in memory, the job queued
    ob.mark_delivered("mqtt", aids[:2])
    assert jobs

    def writer_commits() -> None:
        while jobs:
            jobs.pop(0)()

    real = ob._rdb
    ob._rdb = QueryThenCommit(real, writer_commits)  # type: ignore[assignment]  # a test double
    got = [r.id for r in ob.fetch("influx", 100)]
    assert not jobs  # the marks were committed during the query
    ob._rdb = real
    assert got == ids[5:] + aids, got  # none of the delivered rows again

    # The same for an alert event on the MQTT queue.
    ob.mark_delivered("mqtt", [aids[2]])
    ob._rdb = QueryThenCommit(real, writer_commits)  # type: ignore[assignment]  # a test double
    assert [r.id for r in ob.fetch("mqtt", 10)] == []
    ob._rdb = real
    # And afterwards, from a fresh snapshot: the marks are on disk.
    assert ob.backlog("influx") == len(ids[5:] + aids)
    assert ob.backlog("mqtt") == 0
    ob.close()
