"""A sink's failure message counts its backlog up to a bound (issue 20).

The InfluxDB sink writes "backlog N rows" into each failure message, on the event loop,
at each retry. An exact count reads every pending row: a long outage's million rows held
the loop 72 ms on the bench VM at each retry (an alarm's reading waits behind it), several
times that on a Pi. Now the count stops past LOG_BACKLOG_AT_MOST ("over 10,000 rows"), so
what a failure costs the loop does not grow with the outage; `monitord status` still
gives the exact figure (a separate process).

Costs are SQLite VM steps on the loop's read connection (a progress handler): exact and
the same on every machine, unlike a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest
from helpers import reading

from monitord.config import InfluxConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.influx import LOG_BACKLOG_AT_MOST, InfluxSink
from tests.kit import eventually
from tests.servers import free_port


def store(path: Path, n: int) -> Outbox:
    """`n` readings of one chair waiting for both sinks, committed in thousands."""
    ob = Outbox(path, StorageConfig(path=path))
    for i in range(0, n, 1000):
        ob.add_readings([reading(j) for j in range(i, min(n, i + 1000))], {"chair-1": "s-1"})
        ob.commit()
    return ob


class Steps:
    """SQLite VM steps run on a connection while counting."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.n = db, 0

    def __enter__(self) -> Steps:
        self.db.set_progress_handler(self._tick, 1)
        return self

    def _tick(self) -> int:
        self.n += 1
        return 0

    def __exit__(self, *exc: object) -> None:
        self.db.set_progress_handler(None, 1)


def test_a_bounded_count_is_exact_below_the_bound_and_says_more_above(tmp_path: Path) -> None:
    ob = store(tmp_path / "o.sqlite", 2_500)
    assert ob.backlog("influx") == 2_500
    assert ob.backlog("influx", at_most=5_000) == 2_500
    assert ob.backlog("influx", at_most=2_500) == 2_500
    assert ob.backlog("influx", at_most=2_499) == 2_500  # at_most + 1: "more than"
    assert ob.backlog("influx", at_most=0) == 1
    assert ob.backlog("influx", "chair-1", at_most=100) == 101
    assert ob.backlog("influx", "chair-2", at_most=100) == 0
    # Rows delivered but not yet unmarked in the file (held for a writer thread that has
    # not run: this one never does) are not counted, bounded or not.
    ob.use_writer(lambda job: None)
    ob.mark_delivered("influx", [r.id for r in ob.fetch("influx", 600)])
    assert ob.backlog("influx") == 1_900
    assert ob.backlog("influx", at_most=1_900) == 1_900
    assert ob.backlog("influx", at_most=1_899) == 1_900
    assert ob.backlog("influx", at_most=5_000) == 1_900


def test_a_bounded_count_does_not_grow_with_the_backlog(tmp_path: Path) -> None:
    small = store(tmp_path / "small.sqlite", 12_000)
    large = store(tmp_path / "large.sqlite", 36_000)
    cost: dict[str, list[int]] = {}
    for name, ob in (("small", small), ("large", large)):
        for at_most in (None, 1_000):
            with Steps(ob._rdb) as s:
                ob.backlog("influx", at_most=at_most)
            cost.setdefault(name, []).append(s.n)
    (exact_s, bounded_s), (exact_l, bounded_l) = cost["small"], cost["large"]
    assert exact_l > 2.5 * exact_s  # the exact count reads every row: the bench is real
    assert bounded_l == bounded_s, cost


async def first_failure(ob: Outbox, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    """Run a sink against a real refused connection (nothing listens on the port) until
    its first failure is logged: the loop's SQLite steps meanwhile, and the message."""
    url = f"http://127.0.0.1:{free_port()}"
    cfg = InfluxConfig(url=url, api="v1", database="db", batch_size=100, timeout_s=1.0)
    sink = InfluxSink(cfg, "site-a", ob, backoff_base_s=30.0, backoff_cap_s=30.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING, "monitord.sinks.influx"), Steps(ob._rdb) as s:
        task = asyncio.create_task(sink.run())
        try:
            await eventually(lambda: sink.stats.retries == 1, what="first failure")
            await eventually(lambda: bool(caplog.records), what="failure logged")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return s.n, caplog.records[0].getMessage()


async def test_a_failure_message_costs_the_loop_the_same_whatever_the_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """From the sink's start to its first failure logged, with 15,000 and 45,000 rows
    waiting: the same fetch of one batch and the same bounded count. (An exact count
    read the 30,000 rows more: 90,000 steps more.)"""
    steps: dict[int, int] = {}
    for n in (15_000, 45_000):
        steps[n], message = await first_failure(store(tmp_path / f"o{n}.sqlite", n), caplog)
        assert f"backlog over {LOG_BACKLOG_AT_MOST:,} rows, retrying in" in message, message
    assert abs(steps[45_000] - steps[15_000]) < 2_000, steps


def test_marks_just_committed_and_not_yet_unheld_do_not_hide_rows_still_pending(
    tmp_path: Path,
) -> None:
    """The writer thread commits a transaction with held marks, then un-holds them
    (`marks_committed`): between the two, the loop's count saw the rows gone from `pending`
    and subtracted them once more as held. Rows still waiting were hidden: a group commit's
    five readings read as "backlog 0" (the InfluxDB sink's `wait_idle`, a clean stop's
    drain, the CI failure of test_group_commit_writes). The window is forced, not waited
    for: the marks are written and committed and `marks_committed` is not called yet."""
    ob = store(tmp_path / "o.sqlite", 10)
    ob.use_writer(lambda job: None)  # the marks are held; this test plays the thread
    ob.mark_delivered("influx", [r.id for r in ob.fetch("influx", 5)])
    assert ob.backlog("influx") == 5  # held, not yet on disk: not counted
    written = ob.write_held_marks()  # the thread's transaction...
    ob.commit()  # ...is committed: the five rows left `pending`
    for at_most in (None, 0, 4, 5, 100):
        want = 5 if at_most is None else min(5, at_most + 1)
        assert ob.backlog("influx", at_most=at_most) == want, at_most
    assert ob.backlog("influx", "chair-1") == 5
    ob.marks_committed(written)  # un-held: the same count
    assert ob.backlog("influx") == 5
    assert ob.backlog("influx", "chair-1") == 5
