"""A prune no longer holds the writer thread for as long as it deletes (issue 20;
monitord/store/retention.py, `prune_step`).

A store that first reaches `storage.max_mb` deletes a tenth of itself down to 90 % of the
budget (200,000 rows of a 512-MB store), and a store back from a long shutdown deletes
every row past retention at once. That ran as one writer-thread job, in transactions of
500 rows each fsynced, and an alarm submitted meanwhile waited for all of it:
`python -m bench.prunewait --case budget` measured 332-348 ms on this machine, 1.4 s with
a 20-ms fsync (bench/results.md). Now each writer job is one step of at most
PRUNE_STEP_ROWS rows, committed without an fsync, and an alarm goes in between (2.8-3.2
and 24.1-24.4 ms).

- an alarm written while a budget prune is under way is committed before the prune ends;
- no step deletes more than PRUNE_STEP_ROWS rows, for expiry and budget alike, and the
  steps together delete what the budget and retention call for (the account adds up);
- a store whose free pages cannot be given back (made without auto_vacuum) is not
  rewritten by a VACUUM on the writer thread: the operator is told once instead.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.store.checkpoint import Checkpointer
from monitord.store.retention import PRUNE_STEP_ROWS, PruneRun
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, base_time

DAY_NS = 86_400 * 10**9


def fill(ob: Outbox, n: int, *, delivered: bool = True, alert_every: int = 0) -> None:
    """`n` SpO2 readings of one chair, in commits of 1,000 (an alert event with every
    `alert_every`-th commit), delivered to InfluxDB unless not `delivered`."""
    t0 = base_time()
    for k in range(0, n, 1000):
        rs = [Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, t, t)
              for t in (t0 + timedelta(seconds=j) for j in range(k, k + 1000))]  # fmt: skip
        ids = ob.add_readings(rs, {})
        if alert_every and (k // 1000) % alert_every == 0:
            ob.add_alerts([alert(k)])
        ob.commit()
        if delivered:
            ob.mark_delivered("influx", ids)


def budget_just_under(ob: Outbox) -> None:
    """`storage.max_mb` just under what the store holds: its next prune deletes down to
    90 % of the budget, as when a store first reaches it."""
    counted = ob._db_bytes()
    scale = min(3.0, max(1.0, ob._page_bytes() / counted))
    ob.cfg = ob.cfg.model_copy(update={"max_mb": counted * scale * 0.999 / 2**20})


def steps(ob: Outbox, now_ns: int | None = None) -> tuple[list[dict[str, int]], PruneRun]:
    """Run one prune step by step; what each step deleted, and (key `vm`) how many
    thousand SQLite VM instructions it ran."""
    run = PruneRun(now_ns if now_ns is not None else ob._db.execute(
        "SELECT max(added_ns) FROM records").fetchone()[0])  # fmt: skip
    per_step: list[dict[str, int]] = []
    more = True
    while more:
        before = dict(run.done)
        vm = [0]

        def tick(vm: list[int] = vm) -> int:
            vm[0] += 1
            return 0

        ob._db.set_progress_handler(tick, 1000)
        more = ob.prune_step(run)
        ob._db.set_progress_handler(None, 0)
        per_step.append({**{k: run.done[k] - before[k] for k in before}, "vm": vm[0]})
    return per_step, run


def past_retention(ob: Outbox) -> int:
    """A prune time at which every row is past a 1-day retention (some readings are
    measured after their adding: base_time() + up to n s)."""
    last = ob._db.execute("SELECT max(max(added_ns, t_ns)) FROM records").fetchone()[0]
    return int(last) + DAY_NS + 1


async def test_an_alarm_written_during_a_budget_prune_is_committed_before_it_ends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    fill(ob, 30_000)
    writer = StoreWriter()
    ck = Checkpointer(path, every_s=3600)
    ob.use_writer(writer.submit, ck.kick)
    guard = StoreGuard(ob, TechAlarms(), writer, commit_interval_s=0)
    order: list[str] = []
    try:
        await writer.call(lambda: budget_just_under(ob))
        prune = asyncio.ensure_future(guard.prune_async())
        await asyncio.sleep(0)  # its first step is in the writer thread's queue
        guard.write(StoreBatch("chair-1", events=[alert(1)], done=lambda: order.append("alarm")))
        done = await prune
        order.append("prune")
        await guard.drain()
        # A tenth of the store, in several steps; the alarm went in after the first.
        assert done["pruned_early"] > 5 * PRUNE_STEP_ROWS, done
        assert order == ["alarm", "prune"], order
        assert ob.count("alert") == 1
    finally:
        ck.stop()
        writer.stop()
        ob.close()


@pytest.mark.parametrize("delivered", [True, False], ids=["pruned_early", "dropped"])
def test_no_budget_step_deletes_more_than_its_share(tmp_path: Path, delivered: bool) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    fill(ob, 20_000, delivered=delivered, alert_every=2)
    readings, alerts, counted = ob.count("reading"), ob.count("alert"), ob._db_bytes()
    budget_just_under(ob)
    per_step, run = steps(ob)
    counter = "pruned_early" if delivered else "dropped_readings"
    assert max(s[counter] for s in per_step) <= PRUNE_STEP_ROWS
    assert run.done[counter] > 3 * PRUNE_STEP_ROWS, run.done  # several steps' worth
    # The account: every row deleted is counted, only readings went, and the store is
    # at 90 % of its budget (just under what it held), not under that by a step's rows.
    assert ob.count("reading") == readings - run.done[counter]
    assert ob.count("alert") == alerts
    assert ob.counters()[counter] == run.done[counter]
    assert 0.88 * counted <= ob._db_bytes() <= 0.9 * counted, (ob._db_bytes(), counted)
    ob.close()


def test_no_expiry_step_deletes_more_than_its_share(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = Outbox(path, StorageConfig(path=path, retention_days=1))
    fill(ob, 5_000)
    (kept,) = ob.add_alerts([alert(0)])  # not delivered (the broker is down): kept
    ob.commit()
    per_step, run = steps(ob, now_ns=past_retention(ob))
    assert max(s["expired"] for s in per_step) == PRUNE_STEP_ROWS
    assert run.done["expired"] == 5_000 and ob.count("reading") == 0
    assert [r.id for r in ob.fetch("mqtt", 10)] == [kept.id]
    ob.close()


def test_rows_kept_past_retention_are_not_read_again_at_each_step(tmp_path: Path) -> None:
    """Readings InfluxDB never took (a long outage) are kept past retention, ahead of the
    delivered rows by id. Each step starts where the last one stopped: a step reading
    them all again would cost every step as much as the outage is long."""
    cost: dict[str, int] = {}
    for name, kept in (("none kept", 0), ("20,000 kept", 20_000)):
        path = tmp_path / f"{kept}.sqlite"
        ob = Outbox(path, StorageConfig(path=path, retention_days=1))
        fill(ob, kept, delivered=False)
        fill(ob, 5_000)
        per_step, run = steps(ob, now_ns=past_retention(ob))
        assert run.done["expired"] == 5_000 and ob.count("reading") == kept
        expiring = [s["vm"] for s in per_step if s["expired"]]
        cost[name] = max(expiring[1:])  # the first step reads past the kept ones once
        ob.close()
    assert cost["20,000 kept"] <= 1.5 * cost["none kept"], cost


def test_a_file_that_cannot_give_pages_back_is_reported_not_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"
    # A store file made by another tool, without auto_vacuum: SQLite reuses its free pages
    # but cannot give them back to the file system without rewriting the whole file.
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA page_size = 1024")
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("CREATE TABLE made_elsewhere (x)")
    ob = Outbox(path, StorageConfig(path=path))
    fill(ob, 20_000)
    ob._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    ob.cfg = ob.cfg.model_copy(update={"max_mb": size / 3 / 2**20})  # a third of it
    sql: list[str] = []
    ob._db.set_trace_callback(sql.append)
    with caplog.at_level(logging.INFO, logger="monitord.outbox"):
        done = ob.prune()
        ob.prune()
    ob._db.set_trace_callback(None)
    assert done["pruned_early"] > 0
    assert not [s for s in sql if s.strip().upper() == "VACUUM"]  # not on the writer
    said = [r for r in caplog.records if "stop monitord and run `sqlite3" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING], said  # once, not each prune
    assert str(path) in said[0].getMessage() and "storage.max_mb" in said[0].getMessage()
    ob.close()


def test_a_budget_step_reads_a_bounded_share_of_the_store(tmp_path: Path) -> None:
    """An InfluxDB outage at the budget: nothing is delivered, so the search for
    delivered rows (which go first) reads past every row and finds none, then readings
    are dropped. Each step reads SCAN_STEP_IDS ids at most: the costliest step is as
    costly in a store three times larger."""
    cost: dict[int, int] = {}
    for n in (20_000, 60_000):
        path = tmp_path / f"{n}.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        fill(ob, n, delivered=False, alert_every=5)
        # A prune under the budget first: it folds the rows' bytes into the counter (a
        # daemon's prune each minute folds a minute's rows).
        assert not any(ob.prune().values())
        budget_just_under(ob)
        per_step, run = steps(ob)
        assert run.done["dropped_readings"] > 0 and run.done["pruned_early"] == 0
        cost[n] = max(s["vm"] for s in per_step)
        ob.close()
    assert cost[60_000] <= 1.5 * cost[20_000], cost


def test_a_store_whose_first_ids_are_gone_takes_no_empty_steps(tmp_path: Path) -> None:
    """After months of prunes a store's ids start in the tens of millions. A step's
    share of ids counts from the first row there is, not from 0: otherwise a prune
    would walk thousands of empty windows, each a writer-thread job."""
    path = tmp_path / "outbox.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    ob._next_id = 10_000_000  # the ids below went with earlier prunes
    fill(ob, 20_000)
    assert not any(ob.prune().values())
    budget_just_under(ob)
    per_step, run = steps(ob)
    assert run.done["pruned_early"] > 3 * PRUNE_STEP_ROWS
    assert len(per_step) <= 20, len(per_step)
    ob.close()
