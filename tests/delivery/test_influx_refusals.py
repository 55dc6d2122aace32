"""What InfluxDB refuses for good (HTTP 400/413), against the real influxd 1.6: the
refused point is quarantined (counted, logged once per reason with the point and the
server's text) and every later row is still delivered; nothing waits behind it. A
chair's stretch off UTC refused so (not an outbox row) is dropped, said once."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import pytest
from helpers import alert, reading
from test_influx_sink import SITE, drained, influx_counts, running, v1_cfg

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from monitord.store.base import Durability
from tests.kit import eventually
from tests.servers import Influxd, http_post


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "monitord.sinks.influx" and r.levelno >= logging.WARNING
    ]


async def test_field_type_conflict_logged_once_counted_rest_delivered(
    influxd: Influxd, influx_db: str, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Another writer made `vitals.hr_bpm` an integer in this shard; monitord writes it as
    # a float: every heart-rate point is a field type conflict (HTTP 400, "partial write")
    # for as long as the shard lives (a week). One ERROR line says so, not one per point.
    ns = int(reading(0).measured_at.timestamp() - 60) * 10**9
    status, body = http_post(
        f"{influxd.url}/write?db={influx_db}", f"vitals hr_bpm=72i {ns}".encode()
    )
    assert status == 204, body
    n = 90  # 30 heart-rate readings among them (reading(i), i % 3 == 1)
    outbox.add_readings([reading(i) for i in range(n)], {})
    outbox.commit()
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    async with running(sink):
        await drained(sink)
    refused = [i for i in range(n) if i % 3 == 1]
    assert influx_counts(influxd, influx_db)[0] == 1 + n - len(refused)  # + the integer one
    q = outbox.quarantined("influx")
    assert len(q) == len(refused) == sink.stats.quarantined
    assert outbox.counters()["quarantined.influx"] == len(refused)
    assert sink.stats.points + sink.stats.quarantined == n  # sent = delivered + refused
    (line,) = refusal_lines(caplog)
    assert "field type conflict" in line and "hr_bpm=" in line, line  # reason and point
    assert "quarantined.influx" in line  # where the rest are counted


async def test_point_over_servers_body_limit_quarantined_rest_delivered(
    influxd_small_body: Influxd, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # One alert event whose line alone is over the server's max-body-size (HTTP 413 even
    # on its own): it once blocked the queue for ever, every later reading behind it.
    srv = influxd_small_body
    db = "refusals_" + outbox.path.parent.name[-8:].replace("-", "_")
    srv.create_database(db)
    # Hex text: gzip (on by default) cannot shrink it under the limit.
    long = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(20))
    try:
        outbox.add_readings([reading(i) for i in range(3)], {})
        (big,) = outbox.add_alert_events([dataclasses.replace(alert(1), message=long)])
        outbox.add_readings([reading(i) for i in range(3, 9)], {})
        outbox.commit()
        sink = InfluxSink(v1_cfg(srv, db), SITE, outbox, backoff_cap_s=0.2)
        async with running(sink):
            # Retrying the point counts a retry: before the fix it retried it for ever.
            await eventually(lambda: outbox.backlog("influx") == 0 or sink.stats.retries > 0)
        assert outbox.backlog("influx") == 0 and sink.stats.retries == 0
        assert influx_counts(srv, db) == (9, 9, 0)
        (q,) = outbox.quarantined("influx")
        assert q["record_id"] == big and "413" in q["reason"], q
        assert outbox.counters()["quarantined.influx"] == 1
        (line,) = refusal_lines(caplog)
        assert "413" in line and long[:40] in line, line
    finally:
        srv.drop_database(db)


async def test_clock_offset_refused_for_good_is_dropped_the_rest_delivered(
    influxd: Influxd, influx_db: str, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # The chair's stretches off UTC go out from its clock row (sinks/influx_clock.py),
    # not as outbox rows: one InfluxDB refuses for good (here `offset_s` is an integer in
    # its shard) must be dropped, said once, and hold neither the other stretch nor the
    # readings behind it (retried, it would be resent for ever).
    t0 = reading(0).measured_at.timestamp()
    ns = int(t0 - 60) * 10**9
    status, body = http_post(
        f"{influxd.url}/write?db={influx_db}", f"clock_offset offset_s=5i {ns}".encode()
    )
    assert status == 204, body
    later = t0 + 30 * 86400  # another shard: accepted
    offsets = [[t0, t0 + 600, 10800.0], [t0 + 900, t0 + 1200, 10800.0], [later, None, 7200.0]]
    row = {"t": later, "wall": later, "offsets": offsets}
    outbox.put_state("clock/chair-1", row, durability=Durability.SYNC)
    outbox.add_readings([reading(i) for i in range(6)], {})
    outbox.commit()
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    async with running(sink):
        await drained(sink)
    assert sink.stats.retries == 0 and influx_counts(influxd, influx_db)[0] == 6
    assert len(influxd.rows("SELECT * FROM clock_offset", influx_db)) == 2  # 5i and it
    (kept,) = influxd.rows("SELECT * FROM clock_offset WHERE offset_s > 6", influx_db)
    assert kept["chair"] == "chair-1" and kept["until"] == "", kept
    (line,) = refusal_lines(caplog)  # the second refusal at DEBUG
    assert "clock offset of chair-1 for good" in line and "field type conflict" in line, line
