"""InfluxDB sink against real servers: influxd 1.6 (api v1) and victoria-metrics (api v2).

Outages are real: the server process is stopped (connection refused) or frozen with
SIGSTOP (TCP accepted, no answer: writes time out and "may have landed").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import alert, reading, session

from monitord.config import InfluxConfig, StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from tests.kit import eventually
from tests.servers import Influxd, VictoriaMetrics, http_post

SITE = "site-a"


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def v1_cfg(influxd: Influxd, db: str, **kw: Any) -> InfluxConfig:
    return InfluxConfig(
        url=influxd.url,
        api="v1",
        database=db,
        batch_size=40,
        flush_interval_s=0.05,
        timeout_s=1.0,
        **kw,
    )


def v2_cfg(vm: VictoriaMetrics) -> InfluxConfig:
    return InfluxConfig(
        url=vm.url,
        api="v2",
        org="clinic",
        bucket="monitord",
        batch_size=40,
        flush_interval_s=0.05,
        timeout_s=1.0,
    )


@contextlib.asynccontextmanager
async def running(sink: InfluxSink) -> AsyncIterator[InfluxSink]:
    task = asyncio.create_task(sink.run())
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Producer:
    """Appends readings (+ an alert every 10th) and commits, like the hub does."""

    def __init__(self, ob: Outbox, sink: InfluxSink, site_chair: str = "chair-1") -> None:
        self.ob, self.sink, self.chair = ob, sink, site_chair
        self.n = 0
        self.alerts = 0

    async def produce(self, count: int, pause_s: float = 0.005) -> None:
        for _ in range(count):
            self.ob.add_readings([reading(self.n, self.chair)], {self.chair: "s-1"})
            if self.n % 10 == 0:
                self.ob.add_alert_events([alert(self.n, self.chair)])
                self.alerts += 1
            self.n += 1
            self.ob.commit()
            self.sink.wake()
            await asyncio.sleep(pause_s)


async def until_failed(sink: InfluxSink, timeout_seen: bool) -> None:
    """Keep the outage up until the sink has really met it (a failed write, or a write
    timeout for a frozen server), so the test cannot pass without exercising retries."""
    await eventually(lambda: sink.stats.timeouts if timeout_seen else sink.stats.retries)


async def drained(sink: InfluxSink) -> None:
    await asyncio.wait_for(sink.wait_idle(), 60)


def influx_counts(influxd: Influxd, db: str) -> tuple[int, int, int]:
    """(vitals points, distinct vitals timestamps per device, alerts points)."""
    vit = influxd.rows("SELECT * FROM vitals", db)
    keys = {(r["device"], r["time"]) for r in vit}
    al = influxd.rows("SELECT * FROM alerts", db)
    return len(vit), len(keys), len(al)


async def test_v1_writes_schema(influxd: Influxd, influx_db: str, outbox: Outbox) -> None:
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    rs = [reading(i) for i in range(3)]
    outbox.add_readings(rs, {"chair-1": "s-1"})
    outbox.add_alert_events([alert(1)])
    outbox.add_session_events([session(0)])
    outbox.commit()
    async with running(sink):
        await drained(sink)
    bp = influxd.rows("SELECT * FROM vitals WHERE device = 'bp'", influx_db)
    assert bp == [
        {
            "time": int(rs[0].measured_at.timestamp()) * 10**9,
            "chair": "chair-1",
            "device": "bp",
            "session": "s-1",
            "site": SITE,
            "sys_mmHg": 120.0,
            "dia_mmHg": 80.0,
            "map_mmHg": 93.0,
            "pulse_bpm": 70.0,
            "hr_bpm": None,
            "spo2_pct": None,
            "valid": True,
            # Added for reports from InfluxDB (issue 18): the reading's kind; `contact`
            # is a column of the measurement (other readings have it), absent here.
            "kind": "bp",
            "contact": None,
        }
    ]
    (al,) = influxd.rows("SELECT * FROM alerts", influx_db)
    # Issue 18: the values that raised it (JSON), for the report's gaps and audit.
    assert al["value"] == '{"spo2_pct": 85.0}' and al.get("by") is None and al.get("level") is None
    a = alert(1)
    assert al["time"] == int(a.t) * 10**9
    assert (al["rule"], al["priority"], al["kind"], al["event"], al["alert_id"]) == (
        "spo2.low",
        "high",
        "physiological",
        "cleared",
        "a-00001",
    )
    assert al["message"] == a.message and al["phase"] == "dosing"
    (se,) = influxd.rows("SELECT * FROM sessions", influx_db)
    assert (se["action"], se["session_id"], se["protocol"]) == ("start", "s-0001", "esketamine")
    assert outbox.backlog("influx") == 0
    assert sink.stats.points == 5


@pytest.mark.parametrize("outage", ["stop", "pause"])
async def test_v1_outage_loses_nothing_no_duplicates(
    influxd: Influxd, influx_db: str, outbox: Outbox, outage: str
) -> None:
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox, backoff_cap_s=0.5)
    prod = Producer(outbox, sink)
    down: Callable[[], None] = influxd.stop if outage == "stop" else influxd.pause
    up: Callable[[], None] = influxd.start if outage == "stop" else influxd.resume
    async with running(sink):
        await prod.produce(60)
        await asyncio.to_thread(down)
        await prod.produce(150)  # rows keep coming while the server is away
        await until_failed(sink, timeout_seen=outage == "pause")
        assert outbox.backlog("influx") > 0
        await asyncio.to_thread(up)
        await prod.produce(40)
        await drained(sink)
    n_vit, n_keys, n_al = influx_counts(influxd, influx_db)
    assert (n_vit, n_al) == (prod.n, prod.alerts)
    assert n_keys == n_vit  # no point written twice under another timestamp
    assert sink.stats.retries > 0  # the outage was real
    if outage == "pause":
        assert sink.stats.timeouts > 0


async def test_v1_rejected_points_are_quarantined_rest_delivered(
    influxd: Influxd, influx_db: str, outbox: Outbox
) -> None:
    # The server already has `sessions.session_id` as a float: our string session_id is a
    # field type conflict (HTTP 400) for exactly the session rows.
    # (Field types are per shard, so the float point goes in the same week.)
    ns = int(session(0).t - 100) * 10**9
    status, _ = http_post(
        f"{influxd.url}/write?db={influx_db}", f"sessions session_id=1 {ns}".encode()
    )
    assert status == 204
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    outbox.add_readings([reading(i) for i in range(30)], {})
    sids = outbox.add_session_events([session(0), session(1)])
    outbox.add_readings([reading(i) for i in range(30, 45)], {})
    outbox.commit()
    async with running(sink):
        await drained(sink)
    assert influx_counts(influxd, influx_db)[0] == 45
    q = outbox.quarantined("influx")
    assert [x["record_id"] for x in q] == sids
    assert all("conflict" in x["reason"] for x in q), q
    assert outbox.counters()["quarantined.influx"] == 2
    assert outbox.backlog("influx") == 0


async def test_invalid_line_protocol_never_sent(
    influxd: Influxd, influx_db: str, outbox: Outbox
) -> None:
    good = reading(1)
    bad = Reading(
        "chair-1", "dev\nice", Kind.HR, {"hr_bpm": 70.0}, good.measured_at, good.received_at
    )
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    (bad_id,) = outbox.add_readings([bad], {})
    outbox.add_readings([good], {})
    outbox.commit()
    async with running(sink):
        await drained(sink)
    assert influx_counts(influxd, influx_db)[0] == 1
    (q,) = outbox.quarantined("influx")
    assert q["record_id"] == bad_id and "newline" in q["reason"]


async def test_v1_missing_database_waits_then_delivers(
    influxd: Influxd, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    db = "later_db_" + outbox.path.parent.name[-8:].replace("-", "_")
    sink = InfluxSink(v1_cfg(influxd, db), SITE, outbox, backoff_cap_s=0.2)
    outbox.add_readings([reading(i) for i in range(5)], {})
    outbox.commit()
    async with running(sink):
        await eventually(lambda: sink.stats.retries >= 2)
        assert outbox.backlog("influx") == 5  # nothing quarantined for a missing database
        influxd.create_database(db)
        await drained(sink)
    try:
        assert influx_counts(influxd, db)[0] == 5
        assert any("database not found" in r.getMessage() for r in caplog.records)
    finally:
        influxd.drop_database(db)


async def test_v1_retention_policy_dropped_is_said_as_missing_then_delivers(
    influxd: Influxd, influx_db: str, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Found in the adversarial round of 2026-12-05 (advinflux44): influxd 1.x answers a
    # write to a retention policy it lacks (dropped to change its duration, or
    # influx.retention_policy misspelt) with HTTP 500. It read as InfluxDB's own fault,
    # "(server-side error; retrying)" at WARNING, while the fix is the admin's, as for a
    # missing database (404: ERROR, "create the database ... or fix influx.database").
    influxd.query(f'CREATE RETENTION POLICY "week" ON "{influx_db}" DURATION 7d REPLICATION 1')
    influxd.query(f'DROP RETENTION POLICY "week" ON "{influx_db}"')
    cfg = v1_cfg(influxd, influx_db, retention_policy="week")
    sink = InfluxSink(cfg, SITE, outbox, backoff_base_s=0.05, backoff_cap_s=0.2)
    outbox.add_readings([reading(i) for i in range(5)], {})
    outbox.commit()
    async with running(sink):
        await eventually(lambda: sink.stats.retries >= 2)
        assert outbox.backlog("influx") == 5  # waiting, nothing quarantined
        assert outbox.quarantined("influx") == []
        influxd.query(f'CREATE RETENTION POLICY "week" ON "{influx_db}" DURATION 7d REPLICATION 1')
        await drained(sink)
    assert len(influxd.rows('SELECT * FROM "week"."vitals"', influx_db)) == 5
    said = [
        r
        for r in caplog.records
        if r.name == "monitord.sinks.influx" and "retention policy not found" in r.getMessage()
    ]
    assert said and said[0].levelno == logging.ERROR, [r.getMessage() for r in said]
    line = said[0].getMessage()
    assert "influx.retention_policy" in line and "server-side" not in line, line


@pytest.mark.parametrize("outage", ["stop", "pause"])
async def test_v2_victoria_metrics_outage(
    victoria_metrics: VictoriaMetrics, outbox: Outbox, vm_site: str, outage: str
) -> None:
    vm = victoria_metrics
    sink = InfluxSink(v2_cfg(vm), vm_site, outbox, backoff_cap_s=0.5)
    prod = Producer(outbox, sink)
    down: Callable[[], None] = vm.stop if outage == "stop" else vm.pause
    up: Callable[[], None] = vm.start if outage == "stop" else vm.resume
    async with running(sink):
        await prod.produce(60)
        await asyncio.to_thread(down)
        await prod.produce(150)
        await until_failed(sink, timeout_seen=outage == "pause")
        assert outbox.backlog("influx") > 0
        await asyncio.to_thread(up)
        await prod.produce(40)
        await drained(sink)
    # every reading has a numeric field that VictoriaMetrics keeps: vitals_valid
    match = f'{{__name__="vitals_valid",site="{vm_site}"}}'
    got = await asyncio.to_thread(vm.wait_samples, match, prod.n)
    assert got == prod.n
    series = await asyncio.to_thread(vm.export, match)
    stamps = []
    for s in series:
        metric, timestamps = s["metric"], s["timestamps"]
        assert isinstance(metric, dict) and isinstance(timestamps, list)
        stamps += [(metric["device"], t) for t in timestamps]
    assert len(set(stamps)) == len(stamps) == prod.n
    assert sink.stats.retries > 0
