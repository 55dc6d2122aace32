"""design.md section 7, held against a real influxd 1.6: which keys of each measurement are
tags and which are fields, and that a reading's point is at its `measured_at`.

`SELECT *` merges tags and fields into one row, so the schema test in test_influx_sink.py
reads a tag moved to a field (an alert's `priority`) the same: a dashboard's
`GROUP BY "priority"` or a retention query on a tag would find nothing. Here the server
says which is which (`SHOW TAG KEYS`, `SHOW FIELD KEYS`).

A reading's timestamp is `measured_at` (the device's clock when within 5 min of the Pi's),
recorded with the device time, not the daemon's receive time (clinical-rules.md "Delivery
of alarms": a device's own time "is recorded with the reading and used for reports"), with
the device time and the receive time as fields beside it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from helpers import alert, base_time, running, session

from monitord.config import InfluxConfig, StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from tests.servers import Influxd

SITE = "site-a"


def keys(influxd: Influxd, q: str, db: str) -> dict[str, set[str]]:
    """measurement -> the first column of each row of a SHOW query (its key names)."""
    res = influxd.query(q, db)
    results = res["results"]
    assert isinstance(results, list)
    return {s["name"]: {v[0] for v in s["values"]} for s in results[0].get("series", [])}


async def test_tags_fields_and_the_reading_time_are_the_design_schema(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    measured = base_time()
    received = measured + timedelta(seconds=40)  # a device clock 40 s behind: trusted
    bp = Reading(
        "chair-1",
        "cuff",
        Kind.BP,
        {"sys_mmHg": 121.0, "dia_mmHg": 79.0, "map_mmHg": 93.0, "pulse_bpm": 70.0},
        measured,
        received,
        device_time=measured,
    )
    outbox.add_readings([bp], {"chair-1": "s-0001"})
    outbox.add_alert_events([alert(1)])
    outbox.add_session_events([session(0)])
    outbox.commit()
    cfg = InfluxConfig(url=influxd.url, api="v1", database=influx_db, flush_interval_s=0.05,
                       timeout_s=1.0)  # fmt: skip
    sink = InfluxSink(cfg, SITE, outbox)
    try:
        async with running(sink.run):
            await asyncio.wait_for(sink.wait_idle(), 60)
    finally:
        outbox.close()

    assert keys(influxd, "SHOW TAG KEYS", influx_db) == {
        "vitals": {"site", "chair", "device", "session"},
        "alerts": {"site", "chair", "rule", "priority", "kind"},
        "sessions": {"site", "chair", "protocol"},
    }
    fields = keys(influxd, "SHOW FIELD KEYS", influx_db)
    assert {"sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm", "valid"} <= fields["vitals"]
    assert {"event", "alert_id", "message", "phase"} <= fields["alerts"]
    assert {"action", "session_id"} <= fields["sessions"]

    (row,) = influxd.rows("SELECT * FROM vitals", influx_db)
    assert row["time"] == int(measured.timestamp()) * 10**9, row  # `measured_at`
    # The device's own time is recorded with the reading, the receive time beside it.
    assert row["device_time"] == measured.isoformat().replace("+00:00", "Z"), row
    assert row["received_at"] == received.isoformat().replace("+00:00", "Z"), row
