"""A stop without the drain (a task crashed) stores each batch once.

Found by an audit of the stop (monitord/storestop.py): on a stop that skips the drain
(the daemon's task group ended on a crash), a batch the guard handed to the writer thread
is committed by the thread as `close` stops it, but the commit's callback (`_committed`,
which takes the batch off the guard's `held` list) waits on the loop that `close` blocks.
The close's flush then stored the same batch again: every alert event in it was in the
store twice (two records, both pending for the MQTT sink and InfluxDB: a duplicate
`raised` at the nurses' station after the restart, a duplicate row in the report).

A real store on disk, the real writer thread, checkpointer, guard and stop."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.storeopen import lock_store
from monitord.storestop import StoreStop
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, reading
from tests.e2e.e2e_kit import mqtt_section
from tests.faults.storekit import fill, tmpfs
from tests.faults.writerkit import SlowCommits, running, two_chairs
from tests.faults.writerkit import reading as reading_of
from tests.kit import Observer, eventually
from tests.servers import Mosquitto


def _stored(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        alerts = db.execute("SELECT count(*) FROM records WHERE type = 'alert'").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM records WHERE type = 'reading'").fetchone()[0]
    return int(alerts), int(rows)


async def test_a_stop_without_the_drain_stores_a_batch_in_the_writer_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    lock = lock_store(path)
    ob = Outbox(path, StorageConfig(path=path))
    writer, ck = StoreWriter(), Checkpointer(path, every_s=3600)
    ob.use_writer(writer.submit, ck.kick)
    guard = StoreGuard(ob, TechAlarms(console=None), writer, 0.0, checkpointer=ck)
    stop = StoreStop(guard, writer, ck, lock)
    told: list[int] = []
    for n in (1, 2):
        rows = [reading(100 + n * 10 + i) for i in range(5)]
        done = functools.partial(told.append, n)
        batch = StoreBatch("chair-1", runs=[(rows, "s-1")], events=[alert(n)], done=done)
        guard.write(batch)  # an alert: handed to the writer thread at once
    # No drain, no turn of the loop: `close` runs what the thread was handed while the
    # commit's callback waits for this loop (as after a crash of the daemon's tasks).
    assert guard.in_write > 0
    stop.close()
    assert stop.hung is None
    await asyncio.sleep(0.05)  # the commit's callback now runs: it must not tell again
    assert _stored(path) == (2, 10)  # before: (4, 20), each batch stored twice
    assert sorted(told) == [1, 2], told  # each batch told once (published once)
    assert not guard.held


def _crisis(chair: str) -> Reading:
    return reading_of(chair, Kind.BP, {"sys_mmHg": 210.0, "dia_mmHg": 100.0})  # bp.crisis


def _drain_bug() -> None:
    raise RuntimeError("a bug in a chair's drain")


async def test_a_crash_at_stop_with_an_alarm_in_the_writer_sends_it_once_after_restart(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The daemon: chair-a's alarm is committed by the writer thread while its commit (the
    # fsync, held at a gate as an SD card holds it) outlasts the stop's crash (chair-b's
    # drain raising: no `drain` of the store then); the gate opens once the close stops
    # the writer thread, the loop blocked by the close.
    login = mqtt_section(mosquitto, mqtt_prefix).replace("[mqtt]\n", "")
    cfg = loads_config(two_chairs(tmp_path, "stop-crash", mqtt=login))
    path = tmp_path / "store.sqlite"
    async with Observer(mosquitto, [f"{mqtt_prefix}/#"]) as obs:
        daemon = Daemon(cfg)
        task = asyncio.create_task(daemon.run())
        await eventually(lambda: daemon.mqtt is not None and daemon.mqtt.connected, 10)
        slow = SlowCommits(daemon.outbox._db, rows_only=True)
        daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
        slow.hold.set()
        daemon.chairs["chair-a"].submit(_crisis("chair-a"))
        await eventually(slow.inside.is_set, 10, "chair-a's alarm in the writer's commit")
        daemon.chairs["chair-b"].drain = _drain_bug  # type: ignore[method-assign]
        writer = daemon.writer
        assert writer is not None

        def disk_answers_at_close() -> None:
            while not writer._stopped:
                time.sleep(0.01)
            slow.gate.set()

        opener = threading.Thread(target=disk_answers_at_close, daemon=True)
        opener.start()
        daemon.stop_event.set()
        with pytest.raises(ExceptionGroup):
            await asyncio.wait_for(task, 30)
        opener.join(10)
        assert slow.held_commits >= 1
        with sqlite3.connect(path) as db:
            alerts = db.execute(
                "SELECT body FROM records WHERE type = 'alert' AND chair = 'chair-a'"
            ).fetchall()
        raised = set(alerts)  # chair-a's alert events (bp.crisis raised)
        assert raised
        async with running(Daemon(cfg)):  # sends what is pending: every stored copy
            await eventually(lambda: len(obs.of("chair-a/alerts/events")) >= len(alerts), 10)
        sent = obs.of("chair-a/alerts/events")
        assert len(sent) == len(raised), sent  # before: each alarm sent twice
    assert len(alerts) == len(raised), alerts  # before: each stored twice
    # What the stop told (the listeners of the commit's batch) found the store open.
    bugs = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not any("a bug" in m for m in bugs), bugs


async def test_a_bug_in_telling_a_committed_batch_at_stop_loses_nothing_held(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The batches the writer committed are told before the close's flush stores the rest:
    # a `done` that raises (a bug) must not keep the held batches from the store.
    path = tmp_path / "outbox.sqlite"
    lock = lock_store(path)
    ob = Outbox(path, StorageConfig(path=path))
    writer, ck = StoreWriter(), Checkpointer(path, every_s=3600)
    ob.use_writer(writer.submit, ck.kick)
    guard = StoreGuard(ob, TechAlarms(console=None), writer, 0.0, checkpointer=ck)
    stop = StoreStop(guard, writer, ck, lock)
    told: list[int] = []

    def bug() -> None:
        raise RuntimeError("a listener's bug")

    first = StoreBatch("chair-1", runs=[([reading(110)], "s-1")], events=[alert(1)], done=bug)
    second = StoreBatch("chair-2", runs=[([reading(120, "chair-2")], "s-2")],
                        events=[alert(2, "chair-2")], done=lambda: told.append(2))  # fmt: skip
    guard.write(first)  # in the writer thread
    guard.write(second)  # held behind it: for the close's flush
    with caplog.at_level(logging.ERROR, "monitord.store"):
        stop.close()
    assert _stored(path) == (2, 2)
    assert told == [2]
    assert any("a bug" in r.getMessage() for r in caplog.records)


async def test_a_retry_committed_at_a_stop_without_the_drain_clears_the_store_alarm(
    tmp_path: Path,
) -> None:
    # A full disk held the batches; space freed, the guard's retry is in the writer when
    # the crash stops the daemon: stored once, and `store.unwritable` cleared (the side
    # file the annunciator and `monitord status` read), as the retry's callback would.
    alarms = TechAlarms(console=None)
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        lock = lock_store(path)
        ob = Outbox(path, StorageConfig(path=path))
        writer, ck = StoreWriter(), Checkpointer(path, every_s=3600)
        ob.use_writer(writer.submit, ck.kick)
        guard = StoreGuard(ob, alarms, writer, 0.0, checkpointer=ck)
        stop = StoreStop(guard, writer, ck, lock)
        filler = fill(disk)
        n = 0
        while not guard.holding:  # until the WAL's reusable space is used up too
            n += 1
            guard.write(StoreBatch("chair-1", runs=[([reading(100 + n)], "s-1")],
                                   events=[alert(n)]))  # fmt: skip
            await eventually(lambda: guard.in_write == 0)
            assert n < 2000, "the full disk never refused a write"
        assert "store.unwritable" in alarms.active
        filler.unlink()
        guard._kick()  # the guard's retry (StoreGuard.run), handed to the writer thread
        assert guard.in_write > 0
        stop.close()
        alerts, _ = _stored(path)
    assert alerts == n
    assert "store.unwritable" not in alarms.active
