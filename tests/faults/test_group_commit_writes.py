"""Issue 20, SD-card writes: while readings stream, the store commits nothing but group
commits. Delivery marks (the InfluxDB sink's) and the status rows go into the next group
commit instead of transactions of their own: each transaction writes whole pages of the
`pending` queue and the `state` table into the WAL, so before the change a chair at 1 Hz
cost a marks transaction per sink per batch and a status transaction per second on top of
its readings (bench/results.md: 128 MB per chair-hour).

A real daemon in process, the real influxd; the store connection of the writer thread is
wrapped to see each transaction's statements. Nothing is lost by folding: every mark is
written by the time the daemon stopped (InfluxDB backlog 0 in the store) and the status
is there.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from tests.e2e.e2e_kit import influx_v1
from tests.kit import eventually
from tests.servers import Influxd


class Transactions:
    """Delegates to a sqlite3 connection; records, per committed transaction of the
    writer thread, whether it inserted records."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.recording = threading.Event()
        self.committed: list[tuple[bool, bool]] = []  # (inserted records, deleted marks)
        self._records = self._marks = False

    def _see(self, sql: str) -> None:
        if sql.startswith("BEGIN"):
            self._records = self._marks = False
        elif sql.startswith("INSERT INTO records"):
            self._records = True
        elif sql.startswith("DELETE FROM pending"):
            self._marks = True
        elif sql == "COMMIT" and self.recording.is_set():
            self.committed.append((self._records, self._marks))

    def execute(self, sql: str, *args: Any) -> Any:
        self._see(sql.strip())
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._see(sql.strip())
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_marks_and_status_ride_on_the_group_commit(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    cfg = loads_config(
        '[site]\nid = "sd-writes"\n[mqtt]\nenabled = false\n'
        + influx_v1(influxd, influx_db)
        + f'[storage]\npath = "{store}"\ncommit_interval_s = 0.5\n'
        '[[chairs]]\nid = "chair-1"\n'
    )
    daemon = Daemon(cfg)
    changes: list[object] = []  # active sets published while recording
    daemon.hub.subscribe(
        lambda b: changes.append(b) if b.active is not None and tx.recording.is_set() else None,
        "test",
    )
    tx = Transactions(daemon.outbox._db)
    daemon.outbox._db = tx  # type: ignore[assignment]  # a test double
    task = asyncio.create_task(daemon.run())
    sent = 0
    try:
        await eventually(lambda: daemon.supervisor is not None, what="daemon up")
        chair = daemon.chairs["chair-1"]
        # InfluxDB's connection, made by the first write, is a change status shows at once.
        now = datetime.now(UTC)
        chair.submit(Reading("chair-1", "mon", Kind.HR, {"hr_bpm": 70.0}, now, now))
        sent += 1
        influx = daemon.influx
        assert influx is not None
        await eventually(lambda: influx.link.state == "connected", what="InfluxDB connected")
        # The start's own writes (the first prune, the first status) are done by then.
        await asyncio.sleep(1.5)
        tx.recording.set()
        for i in range(40):  # 10 Hz for 4 s: 8 group commits' worth
            now = datetime.now(UTC)
            chair.submit(Reading("chair-1", "mon", Kind.HR, {"hr_bpm": 70.0 + i % 5}, now, now))
            sent += 1
            await asyncio.sleep(0.1)
        tx.recording.clear()
        # Every reading is committed (the backlog counts committed rows only, and the last
        # ones wait up to the commit interval) and the sink confirmed them all (marks may
        # still be held for the next commit).
        seen = Outbox(store, cfg.storage, readonly=True)
        try:
            await eventually(
                lambda: (
                    len(seen.readings("chair-1")) == sent and daemon.outbox.backlog("influx") == 0
                ),
                what="all readings committed and confirmed by InfluxDB",
            )
        finally:
            seen.close()
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)

    marks = [t for t in tx.committed if t[1]]
    assert marks, tx.committed  # the sink's marks were written while streaming...
    # ...and every transaction committed while readings streamed held readings: no
    # marks-only or status-only transaction (before: one per sink per batch, and the
    # status one per second), but for the status of an alarm raised or ended (at most
    # one each: `monitord status` shows it as it sounds, not a group commit later).
    alone = sum(not records for records, _ in tx.committed)
    assert alone <= len(changes), (tx.committed, len(changes))
    ob = Outbox(store, cfg.storage, readonly=True)
    try:
        assert ob.backlog("influx") == 0  # no mark lost by folding them
        assert len(ob.readings("chair-1")) == sent
        assert ob.get_state("chair/chair-1") is not None
        assert ob.get_state("daemon") is not None
    finally:
        ob.close()
