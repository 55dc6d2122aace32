"""A Pi upgraded from 0.1.0 (the first release: store schema v3) with the daemon's store
kept: the store the 0.1.0 daemon itself left (tests/delivery/data/
make_v010_daemon_store.py, run on d9b47eb) holds an active `spo2.very_low` alarm in the
engine's snapshot and, the broker and the database having been unreachable, every reading
and the alert event still pending. This daemon starts on it with the real broker and
InfluxDB: the alarm is still active under its id (not forgotten, not raised anew), and
what was pending reaches each server once (docs/install.md, upgrading; the store is
migrated v3 -> v7 at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.outbox import SCHEMA_VERSION
from tests.kit import Observer, eventually
from tests.servers import Influxd, Mosquitto, json_int

FIXTURE = Path(__file__).parent / "data" / "outbox-v010-daemon.sqlite"
SITE = "upgrade-test"  # the fixture's site id (its daemon's config)


def _old(store: Path) -> tuple[int, list[tuple[str, int]], str]:
    """(schema version, (type, t_ns) of every record, the snapshot's active alert id)."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        rows = db.execute("SELECT type, t_ns FROM records ORDER BY id").fetchall()
        snap = json.loads(db.execute("SELECT value FROM state WHERE key = 'engine/chair-9'")
                          .fetchone()[0])  # fmt: skip
    alerts = snap["chairs"]["chair-9"]["alerts"]
    return version, rows, alerts["spo2.very_low"]["id"]


async def test_a_010_store_keeps_its_alarm_and_delivers_its_backlog_once(
    tmp_path: Path, influxd: Influxd, influx_db: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    store = tmp_path / "outbox.sqlite"
    shutil.copy(FIXTURE, store)
    version, rows, alert_id = _old(store)
    assert version == 3 and {t for t, _ in rows} == {"reading", "alert"}
    master, slave = os.openpty()  # the oximeter's adapter, silent after the upgrade
    cfg = loads_config(
        f'[site]\nid = "{SITE}"\n'
        f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"\n'
        f'[influx]\nurl = "{influxd.url}"\napi = "v1"\ndatabase = "{influx_db}"\n'
        f'[storage]\npath = "{store}"\n'
        '[alerts."spo2.very_low"]\nfor_s = 1\n'
        '[[chairs]]\nid = "chair-9"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{os.ttyname(slave)}"\n'
    )
    base = f"{mqtt_prefix}/{SITE}/chair-9"
    try:
        daemon = Daemon(cfg)
        engine = daemon.chairs["chair-9"].engine
        at_start = [(a["rule"], a["alert_id"], a["state"]) for a in engine.active("chair-9")]
        async with Observer(mosquitto, [f"{base}/alerts/events", f"{base}/alerts/active"]) as obs:
            task = asyncio.create_task(daemon.run())
            try:

                def shown() -> bool:
                    return any(
                        a["alert_id"] == alert_id
                        for p in obs.of("alerts/active")
                        for a in p["alerts"]
                    )

                def drained() -> bool:
                    ob = daemon.outbox
                    return ob.backlog("influx") == 0 and ob.backlog("mqtt") == 0

                await eventually(drained, 30, "the 0.1.0 backlog delivered")
                await eventually(shown, 30, "the alarm shown in alerts/active")
                await asyncio.sleep(0.5)  # a second copy of an event would arrive now
                later = [(a["rule"], a["alert_id"], a["state"]) for a in engine.active("chair-9")]
            finally:
                daemon.stop_event.set()
                await asyncio.wait_for(task, 20)
    finally:
        os.close(slave)
        os.close(master)

    assert at_start == later == [("spo2.very_low", alert_id, "active")]
    with contextlib.closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # MQTT: the 0.1.0 daemon's raise, once; no second raise under a new id.
    events = [(p["rule"], p["event"], p["alert_id"]) for p in obs.of("alerts/events")]
    assert [e for e in events if e[0] == "spo2.very_low"] == [("spo2.very_low", "raised", alert_id)]
    # InfluxDB: each record the 0.1.0 daemon kept, once (a point per record, none missing).
    vitals = influxd.rows("SELECT * FROM vitals", influx_db)
    alerts = influxd.rows("SELECT * FROM alerts", influx_db)
    old_readings = sorted(ns for t, ns in rows if t == "reading")
    assert sorted(json_int(r["time"]) for r in vitals) == old_readings  # the pty is silent
    assert [json_int(r["time"]) for r in alerts if r.get("rule") == "spo2.very_low"] == [
        ns for t, ns in rows if t == "alert"
    ]
