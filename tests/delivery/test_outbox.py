"""Outbox: durability, per-sink delivery state, history, retention, disk budget, crashes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import alert, base_time, reading, session

from monitord.config import StorageConfig
from monitord.outbox import SCHEMA_VERSION, Durability, Outbox, OutboxError, to_ns

HERE = Path(__file__).resolve().parent


def _open(tmp_path: Path, **kw: float) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p, **kw))


def test_roundtrip_history_and_routes(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    rs = [reading(i) for i in range(6)]
    ids = ob.add_readings(rs, {"chair-1": "s-1"})
    aids = ob.add_alert_events([alert(0), alert(1)])
    sids = ob.add_session_events([session(0)])
    ob.commit()
    assert len(ids) == 6 and ids == sorted(ids) and aids[0] > ids[-1] and sids[0] > aids[-1]
    ob.close()

    ob = _open(tmp_path)
    assert ob.schema_version() == SCHEMA_VERSION
    got = ob.readings("chair-1")
    assert [r for r, _ in got] == rs  # every Reading field survives (seq is not compared)
    assert {s for _, s in got} == {"s-1"}
    assert [r.seq for r, _ in got] == ids
    assert ob.alert_events("chair-1") == [alert(0), alert(1)]
    assert ob.session_events() == [session(0)]
    # readings, alerts and sessions go to InfluxDB; only alert events to MQTT
    assert ob.backlog("influx") == 9
    assert ob.backlog("mqtt") == 2
    assert [r.id for r in ob.fetch("mqtt", 10)] == aids
    since = rs[2].measured_at
    assert [r for r, _ in ob.readings("chair-1", since, since + timedelta(seconds=2))] == rs[2:4]
    assert ob.last_readings("chair-1")["hr"] == rs[4]
    assert ob.integrity_check() == "ok"


def test_uncommitted_rows_are_invisible_to_sinks(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    ob.add_readings([reading(0)], {})
    assert ob.fetch("influx", 10) == []
    ob.commit()
    assert len(ob.fetch("influx", 10)) == 1


def test_independent_cursors_and_mark_delivered(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    ids = ob.add_alert_events([alert(i) for i in range(5)])
    ob.commit()
    ob.mark_delivered("influx", ids[:3])
    assert ob.backlog("influx") == 2 and ob.backlog("mqtt") == 5
    ob.mark_delivered("mqtt", ids)
    assert ob.backlog("mqtt") == 0
    assert [r.id for r in ob.fetch("influx", 10)] == ids[3:]
    ob.quarantine("influx", [(ids[3], "HTTP 400: bad", "line")])
    assert ob.backlog("influx") == 1
    assert ob.counters()["quarantined.influx"] == 1
    assert ob.quarantined("influx")[0]["reason"] == "HTTP 400: bad"
    with pytest.raises(ValueError, match="unknown sink"):
        ob.backlog("kafka")  # type: ignore[arg-type]  # an unknown sink, on purpose


def test_same_instant_gets_distinct_timestamps_per_series(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    r = reading(1)
    ob.add_readings([r, r, reading(1, chair="chair-2")], {})
    ob.commit()
    ns = [row.t_ns for row in ob.fetch("influx", 10)]
    base = to_ns(r.measured_at)
    # same chair+device+instant: shifted by 1 ns so InfluxDB keeps both points
    assert ns == [base, base + 1, base]


def test_state(tmp_path: Path) -> None:
    ob = _open(tmp_path)
    ob.put_state("chair/chair-1", {"devices": {"bp": {"link": "up"}}}, durability=Durability.NORMAL)
    ob.put_state("daemon", {"pid": 1}, durability=Durability.NORMAL)
    ob.close()
    ob = Outbox(tmp_path / "outbox.sqlite", StorageConfig(), readonly=True)
    assert ob.get_state("chair/chair-1") == {"devices": {"bp": {"link": "up"}}}
    assert list(ob.state_items("chair/")) == ["chair/chair-1"]
    assert ob.get_state("nope", 5) == 5


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    _open(tmp_path).close()
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="newer than this monitord"):
        _open(tmp_path)


def test_retention_deletes_only_delivered(tmp_path: Path) -> None:
    ob = _open(tmp_path, retention_days=1)
    ids = ob.add_readings([reading(i) for i in range(4)], {})
    ob.commit()
    ob.mark_delivered("influx", ids[:2])
    later = to_ns(base_time()) + 3 * 86_400 * 10**9 + time.time_ns() - to_ns(base_time())
    done = ob.prune(now_ns=later)
    assert done["expired"] == 2
    assert [r.seq for r, _ in ob.readings()] == ids[2:]


# Found by hand fuzzing the config's numbers after the fuzz round, 2026-12-05: a
# retention of centuries (a site's "keep everything") put the prune's cutoff below
# SQLite's 64-bit integers, and past 1e300 days the float overflowed: OverflowError, the
# daemon's store task crashed at every prune (technical alarm task.crashing/store).
@pytest.mark.parametrize("days", [1e6, 1e300])
def test_a_retention_of_centuries_keeps_every_row(tmp_path: Path, days: float) -> None:
    ob = _open(tmp_path, retention_days=days)
    ids = ob.add_readings([reading(i) for i in range(4)], {})
    ob.commit()
    ob.mark_delivered("influx", ids)
    assert ob.prune()["expired"] == 0
    assert [r.seq for r, _ in ob.readings()] == ids


def test_disk_budget_drops_readings_never_alerts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ob = _open(tmp_path, max_mb=0.25)
    big = "x" * 2000
    aids = []
    for i in range(150):
        ob.add_readings([reading(j) for j in range(i * 10, i * 10 + 10)], {"chair-1": big})
        aids += ob.add_alert_events([alert(i)])
        ob.commit()
    before = ob.count("reading")
    done = ob.prune()
    assert done["dropped_readings"] > 0
    assert ob.count("reading") == before - done["dropped_readings"]
    assert ob.count("alert") == 150  # never dropped
    assert ob.counters()["dropped_readings"] == done["dropped_readings"]
    assert any("DROPPED" in r.message and r.levelname == "CRITICAL" for r in caplog.records)
    # oldest first: the survivors are the newest readings
    kept = [r.seq for r, _ in ob.readings()]
    assert kept and kept[-1] == ob.fetch("influx", 10**6)[-2].id  # newest reading kept
    assert ob._db_bytes() <= 0.25 * 1024 * 1024
    assert ob.prune()["dropped_readings"] == 0  # under budget now: nothing more goes
    assert ob.integrity_check() == "ok"


def test_disk_budget_prunes_delivered_history_first(tmp_path: Path) -> None:
    ob = _open(tmp_path, max_mb=0.25)
    for i in range(100):
        # Session ids make the rows big enough to overrun the budget whatever the body
        # encoding (the readings' chair is "chair-1"; a key "c" would be ignored).
        ids = ob.add_readings(
            [reading(j) for j in range(i * 10, i * 10 + 10)], {"chair-1": "y" * 500}
        )
        ob.commit()
        if i < 80:
            ob.mark_delivered("influx", ids)
    done = ob.prune()
    assert done["pruned_early"] > 0 and done["dropped_readings"] == 0
    assert ob.backlog("influx") == 200  # nothing undelivered lost
    assert ob.counters()["pruned_early"] == done["pruned_early"]


def test_kill_9_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    rnd = random.Random(1234)
    committed = 0
    delivered = 0
    for run in range(8):
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), str(path), str(run)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + rnd.uniform(0.05, 0.6)
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        os.set_blocking(proc.stdout.fileno(), True)
        for line in proc.stdout.read().splitlines():
            if line.startswith("delivered "):
                delivered = max(delivered, int(line.split()[1]))
            elif line.strip():
                committed = max(committed, int(line))
        proc.stdout.close()
        ob = Outbox(path, StorageConfig(path=path, max_mb=64))
        assert ob.integrity_check() == "ok"
        ids = {r.seq for r, _ in ob.readings()} | {
            int(x) for (x,) in ob._db.execute("SELECT id FROM records")
        }
        assert committed in ids, f"run {run}: committed row {committed} lost"
        # every id up to the last committed one exists: nothing committed vanished
        assert all(i in ids for i in range(1, committed + 1))
        # delivery marks that were committed stayed
        if delivered:
            st = ob._db.execute(
                "SELECT count(*) FROM pending WHERE sink = 'influx' AND record_id = ?",
                (delivered,),
            )
            assert st.fetchone()[0] == 0
        for (b,) in ob._db.execute("SELECT body FROM records"):
            json.loads(b)
        ob.close()
    assert committed > 0
