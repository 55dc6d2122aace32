"""Issue 20 (`inf`): the InfluxDB sink off the alarm's path, against a real influxd 1.6
and a real outbox on disk.

- While a partial batch waits for `flush_interval_s`, commits reach the sink through the
  hub (`on_batch`) but wake it only once the rows committed since its fetch could fill
  `batch_size`: ~30 small commits inside the interval cost a handful of fetches, not one
  each (before: every commit woke it and it re-read its whole pending window, ~30
  fetches). Every row still lands once; a commit that fills the batch sends it before
  the interval ends.
- The sink's cursor (`_settled`): after a successful send its next fetch starts above the
  last row it delivered (`Outbox.fetch(after=)`); after a failed send it starts where it
  did before, so nothing is skipped and every row lands once the server is back.

The outbox's `fetch` is wrapped by a counting spy; the outbox itself stays real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import reading, running

from monitord.config import InfluxConfig, StorageConfig
from monitord.hub import CommittedBatch, Hub
from monitord.outbox import Outbox, StoredRecord
from monitord.sinks.influx import InfluxSink
from tests.kit import eventually
from tests.servers import Influxd

SITE = "site-a"


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def cfg(influxd: Influxd, db: str, batch_size: int, flush_interval_s: float) -> InfluxConfig:
    return InfluxConfig(
        url=influxd.url,
        api="v1",
        database=db,
        batch_size=batch_size,
        flush_interval_s=flush_interval_s,
        timeout_s=2.0,
    )


class FetchSpy:
    """Wraps `outbox.fetch`: records (after, rows delivered so far) of each "influx"
    fetch, then runs the real one."""

    def __init__(self, outbox: Outbox, sink: InfluxSink) -> None:
        self.real: Callable[..., list[StoredRecord]] = outbox.fetch
        self.sink = sink
        self.calls: list[tuple[int, int]] = []

    def __call__(self, name: str, limit: int, *a: Any, **kw: Any) -> list[StoredRecord]:
        if name == "influx":
            self.calls.append((int(kw.get("after", 0)), self.sink.stats.points))
        return self.real(name, limit, *a, **kw)


def wired(
    influxd: Influxd,
    db: str,
    outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
    flush_interval_s: float,
    **kw: Any,
) -> tuple[InfluxSink, Hub, FetchSpy]:
    """A sink told of commits by a hub, as in the daemon, its outbox fetches counted."""
    sink = InfluxSink(cfg(influxd, db, batch_size, flush_interval_s), SITE, outbox, **kw)
    hub = Hub()
    hub.subscribe(sink.on_batch, "influx")
    spy = FetchSpy(outbox, sink)
    monkeypatch.setattr(outbox, "fetch", spy)
    return sink, hub, spy


def commit(outbox: Outbox, hub: Hub, first: int, n: int) -> list[int]:
    """Commit readings `first`..`first+n-1` and tell the hub, as a chair's batch does."""
    rs = [reading(first + i) for i in range(n)]
    ids = outbox.add_readings(rs, {"chair-1": "s-1"})
    outbox.commit()
    hub.publish(CommittedBatch("chair-1", None, readings=rs))
    return ids


def landed(influxd: Influxd, db: str) -> tuple[int, int]:
    """(vitals points, distinct (device, time)): equal when no row was written twice."""
    rows = influxd.rows("SELECT * FROM vitals", db)
    return len(rows), len({(r["device"], r["time"]) for r in rows})


async def test_commits_inside_the_interval_do_not_refetch_the_partial_batch(
    influxd: Influxd, influx_db: str, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, hub, spy = wired(influxd, influx_db, outbox, monkeypatch, 1000, 5.0)
    async with running(sink.run):
        await eventually(lambda: spy.calls, what="the sink's first fetch (empty outbox)")
        before = len(spy.calls)
        n = 0
        for _ in range(30):
            commit(outbox, hub, n, 2)
            n += 2
            await asyncio.sleep(0.02)  # the sink gets its turns (a wake would refetch)
        await asyncio.sleep(0.1)
        during = len(spy.calls) - before
        # Still inside the 5-s interval: the partial batch has not gone out.
        assert sink.stats.points == 0 and outbox.backlog("influx") == n
        # The first commit wakes the idle sink (one fetch); the other 29 do not (before:
        # ~30 fetches, one per commit).
        assert 1 <= during <= 3, spy.calls
        await eventually(lambda: sink.stats.points == n, what="the partial batch flushed")
    assert landed(influxd, influx_db) == (n, n)  # every row once
    assert outbox.backlog("influx") == 0


async def test_a_commit_that_fills_the_batch_sends_it_before_the_interval(
    influxd: Influxd, influx_db: str, outbox: Outbox
) -> None:
    # A 60-s interval; the test gives up after 30 s: only the wake on a full batch sends it.
    sink = InfluxSink(cfg(influxd, influx_db, 100, 60.0), SITE, outbox)
    hub = Hub()
    hub.subscribe(sink.on_batch, "influx")
    async with running(sink.run):
        n = 0
        for _ in range(3):
            commit(outbox, hub, n, 2)
            n += 2
            await asyncio.sleep(0.05)
        assert sink.stats.points == 0
        commit(outbox, hub, n, 100 - n)  # exactly fills batch_size
        await eventually(lambda: sink.stats.points == 100, within_s=30,
                         what="the full batch sent before its 60-s interval")  # fmt: skip
    assert landed(influxd, influx_db) == (100, 100)


async def test_next_fetch_starts_above_the_last_delivered_row(
    influxd: Influxd, influx_db: str, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, hub, spy = wired(influxd, influx_db, outbox, monkeypatch, 40, 0.05)
    ids = commit(outbox, hub, 0, 100)
    async with running(sink.run):
        await asyncio.wait_for(sink.wait_idle(), 60)
    # The first fetch after each send starts above the last row sent (40, then 80).
    for done, last in ((40, ids[39]), (80, ids[79])):
        first_after = next(after for after, points in spy.calls if points == done)
        assert first_after == last, spy.calls
    # ... and none after a send goes below it (nothing read again).
    assert all(after >= ids[39] for after, points in spy.calls if points >= 40)
    assert landed(influxd, influx_db) == (100, 100)


async def test_a_failed_send_skips_nothing(
    influxd: Influxd, influx_db: str, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, hub, spy = wired(influxd, influx_db, outbox, monkeypatch, 40, 0.05, backoff_cap_s=0.3)
    ids = commit(outbox, hub, 0, 40)
    async with running(sink.run):
        await eventually(lambda: sink.stats.points == 40, what="the first batch sent")
        await asyncio.to_thread(influxd.stop)
        try:
            mark = len(spy.calls)
            ids += commit(outbox, hub, 40, 100)
            await eventually(lambda: sink.stats.retries >= 2, what="sends failed twice")
            # Every fetch during the outage starts where the last success left it (or,
            # within one batch of 40, above the slice read before it): the failed rows
            # are read again, never skipped.
            outage = [after for after, _ in spy.calls[mark:]]
            assert outage and all(ids[39] <= a < ids[79] for a in outage), outage
            assert outage.count(ids[39]) >= 2  # a fresh batch from the cursor per retry
        finally:
            await asyncio.to_thread(influxd.start)
        await asyncio.wait_for(sink.wait_idle(), 60)
    # sent = stored = delivered, each row once
    assert sink.stats.points == outbox.count("reading") == 140
    assert landed(influxd, influx_db) == (140, 140)
    assert outbox.backlog("influx") == 0
