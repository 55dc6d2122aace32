"""Schema v3 -> v4: per-sink delivery queues (a sink is a name, not a column).

`data/outbox-v3.sqlite` was written by the v3 store code (main at d9b47eb, with
`data/make_v3_store.py`): two chairs, some rows delivered to InfluxDB, two alert events
delivered to MQTT, one reading quarantined, the rest pending. After the migration every
row still pending is delivered once, in append order, to each sink (the real InfluxSink
into influxd, the real MqttSink through mosquitto), and nothing delivered is sent again.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

from helpers import running

from monitord.config import InfluxConfig, MqttConfig, StorageConfig
from monitord.outbox import SCHEMA_VERSION, Outbox, StoredAlert, StoredReading
from monitord.sinks.influx import InfluxSink
from monitord.sinks.mqtt import MqttSink
from tests.kit import Observer, eventually
from tests.servers import Influxd, Mosquitto, json_int

FIXTURE = Path(__file__).resolve().parent / "data" / "outbox-v3.sqlite"
SITE = "site-v3"


# A row of the v3 records table: id, type, chair, t_ns, body (JSON text).
V3Record = tuple[int, str, str, int, str]


def _v3(tmp_path: Path) -> tuple[Path, dict[str, list[tuple[int, str]]], list[V3Record]]:
    """A copy of the v3 fixture, its pending rows per sink ((id, chair) in id order) and
    every record as the v3 code stored it."""
    path = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    pending = {
        sink: [
            (i, c)
            for i, c in db.execute(f"SELECT id, chair FROM records WHERE {sink} = 0 ORDER BY id")
        ]
        for sink in ("influx", "mqtt")
    }
    records: list[V3Record] = db.execute(
        "SELECT id, type, chair, t_ns, body FROM records ORDER BY id"
    ).fetchall()
    db.close()
    return path, pending, records


def test_v3_pending_rows_become_queues_in_order(tmp_path: Path) -> None:
    path, pending, records = _v3(tmp_path)
    assert len(pending["influx"]) == 23 and len(pending["mqtt"]) == 4  # what the fixture left
    # `monitord status` opening it read-only before the daemon migrated it
    with Outbox(path, StorageConfig(path=path), readonly=True) as ro:
        assert ro.schema_version() == 3
        assert ro.backlog("influx") == 23 and ro.backlog("mqtt") == 4
        assert [r.id for r in ro.fetch("influx", 100)] == [i for i, _ in pending["influx"]]

    ob = Outbox(path, StorageConfig(path=path))
    assert ob.schema_version() == SCHEMA_VERSION == 7
    cols = [r[1] for r in ob._db.execute("PRAGMA table_info(records)")]
    assert "influx" not in cols and "mqtt" not in cols  # no column per sink any more
    # records are untouched, the byte counter still exact
    assert (
        ob._db.execute("SELECT id, type, chair, t_ns, body FROM records ORDER BY id").fetchall()
        == records
    )
    (size,) = ob._db.execute("SELECT sum(length(body) + 64) FROM records").fetchone()
    assert ob._db_bytes() == size
    for sink in ("influx", "mqtt"):
        assert ob.backlog(sink) == len(pending[sink])
    assert ob.backlog("mqtt", "chair-2") == sum(c == "chair-2" for _, c in pending["mqtt"])
    assert [q["record_id"] for q in ob.quarantined("influx")] == [13]

    # drained in small batches: each pending id once, in order, per sink and per chair
    got: list[int] = []
    while rows := ob.fetch("influx", 4):
        got += [r.id for r in rows]
        ob.mark_delivered("influx", [r.id for r in rows])
    assert got == [i for i, _ in pending["influx"]]
    for chair in ("chair-1", "chair-2"):
        got = []
        while rows := ob.fetch("mqtt", 1, chair=chair):
            assert all(isinstance(r, StoredAlert) and r.event.chair == chair for r in rows)
            got += [r.id for r in rows]
            ob.mark_delivered("mqtt", [r.id for r in rows])
        assert got == [i for i, c in pending["mqtt"] if c == chair]
    ob.close()

    ob = Outbox(path, StorageConfig(path=path))  # the marks stayed
    assert ob.fetch("influx", 100) == [] and ob.fetch("mqtt", 100) == []
    assert ob.count() == len(records)  # delivered rows are kept as history
    ob.close()


async def test_v3_store_delivered_once_in_order_by_the_real_sinks(
    tmp_path: Path, influxd: Influxd, influx_db: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    path, pending, records = _v3(tmp_path)
    bodies = {i: json.loads(b) for i, _, _, _, b in records}
    ob = Outbox(path, StorageConfig(path=path))
    # typed stored records: what the sinks are handed
    first = ob.fetch("influx", 100)
    assert {r.type for r in first} == {"reading", "alert", "session"}
    stored = [r for r in first if isinstance(r, StoredReading) and r.stored]
    pending_ids = [i for i, _ in pending["influx"]]
    assert (
        [r.id for r in stored]
        == [i for i, b in bodies.items() if isinstance(b, list) and b[11] and i in pending_ids]
        != []
    )
    assert stored[0].reading().stored and stored[0].reading().seq == stored[0].id

    influx = InfluxSink(
        InfluxConfig(url=influxd.url, api="v1", database=influx_db, batch_size=5,
                     flush_interval_s=0.05, timeout_s=2.0),
        SITE,
        ob,
    )  # fmt: skip

    async def no_cmd(chair: str, cmd: object) -> str | None:
        return None

    mqtt = MqttSink(
        MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2),
        SITE,
        ["chair-1", "chair-2"],
        ob,
        no_cmd,
    )
    base = f"{mqtt_prefix}/{SITE}"
    async with Observer(mosquitto, [f"{base}/+/alerts/events"]) as obs:
        async with running(influx.run), running(mqtt.run):
            influx.wake()
            mqtt.wake()
            await eventually(lambda: ob.backlog("influx") == 0 and ob.backlog("mqtt") == 0, 30)
            await asyncio.wait_for(influx.wait_idle(), 30)
            await eventually(lambda: len(obs.of("alerts/events")) >= len(pending["mqtt"]))
            await asyncio.sleep(0.3)  # a duplicate would arrive now
    # MQTT: the pending alert events, once each, in order per chair
    for chair in ("chair-1", "chair-2"):
        got = [p["alert_id"] for t, p, _ in obs.msgs if f"/{chair}/" in t]
        want = [bodies[i]["alert_id"] for i, c in pending["mqtt"] if c == chair]
        assert got == want
    # InfluxDB: exactly the pending rows (none delivered before is sent again)
    vit = influxd.rows("SELECT * FROM vitals", influx_db)
    al = influxd.rows("SELECT * FROM alerts", influx_db)
    se = influxd.rows("SELECT * FROM sessions", influx_db)
    want_ns = sorted(ns for i, _, _, ns, _ in records if i in pending_ids)
    got_ns = sorted(json_int(r["time"]) for r in [*vit, *al, *se])
    assert got_ns == want_ns
    assert len(al) == sum(bodies[i].get("rule") is not None for i, _ in pending["influx"]
                          if isinstance(bodies[i], dict))  # fmt: skip
    assert influx.stats.points == len(pending["influx"])
    ob.close()
