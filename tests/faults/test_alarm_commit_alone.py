"""Issue 20, the alert fast path: an alarm's commit carries its own chair's batches only.

Before, a batch with an alert event was committed together with every batch queued before
it, of every chair: under 16 streaming chairs the alarm's transaction held other chairs'
readings (more rows to write before its fsync), and its publish was followed on the loop,
the broker and every subscriber by a burst of all those chairs' vitals. Now the other
chairs' readings keep waiting for their group-commit interval:
- chair B's readings queued for the interval are neither committed nor published with
  chair A's alarm, and are stored all the same (nothing lost);
- when the interval's timer fires while the alarm's commit is in the writer thread, B's
  readings go in the next commit at once, not one more interval later (the loss window
  stays `commit_interval_s`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually

# Raises on one reading (a BP reading may be held back as a cuff's memory burst).
ALERTS = '"spo2.very_low" = { for_s = 0 }\n'


def alarm() -> Reading:
    return reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0})


async def test_an_alarm_commits_without_other_chairs_readings(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "fast-path", interval_s=60.0, alerts=ALERTS)))
    published: list[tuple[str, int, int]] = []  # chair, readings, events

    def listener(b: CommittedBatch) -> None:
        if b.readings or b.events:
            published.append((b.chair, len(b.readings), len(b.events)))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
        for hr in (70.0, 71.0, 72.0):
            b.submit(reading("chair-b", Kind.HR, {"hr_bpm": hr}))
        await eventually(lambda: b.processed >= 3, what="chair B's readings queued")
        a.submit(alarm())
        await eventually(lambda: any(c == "chair-a" and e for c, _, e in published),
                         what="chair A's alarm published")  # fmt: skip
        # B's readings wait for their 60-s interval: not in A's commit (before: they were,
        # and were published just ahead of A's alarm).
        assert [c for c, *_ in published] == ["chair-a"]
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == 4  # B's three were stored at the stop: nothing lost
        assert ob.count("alert") >= 1


async def test_readings_go_at_once_when_their_timer_fired_during_a_commit(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "fast-path", interval_s=1.0, alerts=ALERTS)))
    slow = SlowCommits(daemon.outbox._db)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    store = daemon.store
    after_alarm: list[bool] = []  # right after A's commit returned: is B's commit under way?

    def listener(batch: CommittedBatch) -> None:
        if batch.chair == "chair-a" and batch.events:
            # Runs inside the commit's callback; look once that callback is done.
            asyncio.get_running_loop().call_soon(lambda: after_alarm.append(store._inflight > 0))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        try:
            a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
            # Nothing of the start (status rows, their timer) is the commit held below.
            await eventually(lambda: store._timer is None and not store._busy and not store._live,
                             what="the store idle")  # fmt: skip
            slow.hold.set()
            b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))  # its 1-s timer starts
            await eventually(lambda: b.processed >= 1, what="chair B's reading queued")
            a.submit(alarm())
            await asyncio.to_thread(slow.inside.wait, 10)  # A's commit (A's batch only) is stuck
            assert store.held[0].chair == "chair-a" and store._inflight == 1
            # B's timer fires while A's commit is in the thread (the timer clears itself
            # when it fires; a fixed 2.5 s waited out its 1 s and more).
            await eventually(lambda: store._timer is None, what="chair B's timer fired")
            slow.hold.clear()
            slow.gate.set()
            await eventually(lambda: after_alarm, what="chair A's alarm published")
            # Before: B's readings waited one more whole interval after A's commit returned.
            assert after_alarm == [True]
        finally:
            slow.gate.set()  # never leave the writer held: the stop waits for it
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == 2 and ob.count("alert") >= 1


class Transactions:
    """Delegates to a sqlite3 connection; records each transaction's statements (SQL and
    arguments) from BEGIN to COMMIT."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.done: list[list[tuple[str, tuple[Any, ...]]]] = []
        self._open: list[tuple[str, tuple[Any, ...]]] | None = None

    def _note(self, sql: str, args: tuple[Any, ...]) -> None:
        if sql.startswith("BEGIN"):
            self._open = []
        elif sql == "COMMIT" and self._open is not None:
            self.done.append(self._open)
            self._open = None
        elif self._open is not None:
            self._open.append((sql, args))

    def execute(self, sql: str, *args: Any) -> Any:
        self._note(sql, tuple(args[0]) if args else ())
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        self._note(sql, ())
        return self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _states(tx: list[tuple[str, tuple[Any, ...]]]) -> set[str]:
    return {str(args[0]) for sql, args in tx if sql.startswith("INSERT INTO state")}


def _marks(tx: list[tuple[str, tuple[Any, ...]]]) -> bool:
    return any(sql.startswith("DELETE FROM pending") for sql, _ in tx)


async def test_an_alarm_commits_without_status_rows_and_delivery_marks(tmp_path: Path) -> None:
    """Status rows and delivery marks waiting for the group commit are not written in an
    alarm's transaction (before its fsync), also when the alarm's chair is the only one
    with batches queued, and follow within the interval (before: the alarm carried them)."""
    daemon = Daemon(loads_config(two_chairs(tmp_path, "fast-path", interval_s=1.0, alerts=ALERTS)))
    txs = Transactions(daemon.outbox._db)
    daemon.outbox._db = txs  # type: ignore[assignment]  # a test double
    store = daemon.store
    async with running(daemon):
        await eventually(lambda: store._timer is None and not store._busy and not store._live,
                         what="the store idle")  # fmt: skip
        daemon.outbox.mark_delivered("influx", [10**9])  # held for the next group commit
        store.put_live("test/live", {"n": 1})
        first = len(txs.done)
        daemon.chairs["chair-a"].submit(alarm())
        alarm_tx: list[list[tuple[str, tuple[Any, ...]]]] = []

        def is_alarm(tx: list[tuple[str, tuple[Any, ...]]]) -> bool:
            return any(sql.startswith("INSERT INTO records") and args[1:2] == ("alert",)
                       for sql, args in tx)  # fmt: skip

        def committed() -> bool:
            alarm_tx[:] = [tx for tx in txs.done[first:] if is_alarm(tx)]
            return bool(alarm_tx)

        await eventually(committed, what="chair A's alarm committed")
        (tx,) = alarm_tx
        assert "engine/chair-a" in _states(tx)  # the resume state goes with the alarm
        assert "test/live" not in _states(tx) and not _marks(tx)
        # ... and they follow with the next group commit, within the interval.
        await eventually(lambda: daemon.outbox.marks_held() == 0, within_s=5.0,
                         what="the delivery mark written")  # fmt: skip
        later = [t for t in txs.done[first:] if t is not tx]
        assert any(_marks(t) and "test/live" in _states(t) for t in later)
