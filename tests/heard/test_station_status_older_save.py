"""A broker back from an older save must not bring a station heard gone back online for the
chairs (docs/delivery.md "Receipts and station status": with no station online while an
alert is active, `monitord status` says `stations: NONE online` and the annunciator sounds
`technical`). An in-process daemon on a real mosquitto whose store is rolled back: a crash
(SIGKILL) restores its last autosave, up to 30 min old with Debian's default.

The station says `online` (retained, saved by the broker), then goes away (its Last Will):
the chair counts no station online. The broker crashes and comes back from the save taken
before: at the chair's reconnect it replays the station's `online`, which the chair heard
before the `offline`. Before, the chair took it as the station's state: a station online,
the annunciator's "no station" condition off, for a station that is gone. Now a replayed
status heard before another one since is an older save's, and the one heard since stands."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import aiomqtt

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import iso
from tests.kit import eventually
from tests.servers import Mosquitto, session_tmpdir


async def publish(broker: Mosquitto, topic: str, state: str) -> None:
    """A station's status as `monitord station` sends it: retained, QoS 1."""
    body = {"state": state, "time": iso(time.time()), "version": "0.2.0"}
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.publish(topic, json.dumps(body), qos=1, retain=True)


async def test_an_older_save_does_not_bring_a_gone_station_back_online(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # A broker of its own: its store is rolled back below.
    broker = Mosquitto(session_tmpdir("mosquitto-older-save-station"))
    db, saved = broker.datadir / "mosquitto.db", tmp_path / "older.db"
    stations = f"{mqtt_prefix}/site-1/stations"
    cfg = loads_config(
        '[site]\nid = "site-1"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nprefix = "{mqtt_prefix}"\n'
        "[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        '[[chairs]]\nid = "chair-1"\n'
    )
    broker.start()
    daemon = Daemon(cfg, restart_backoff_s=(0.1, 0.5))
    task = asyncio.create_task(daemon.run())
    try:
        receipts = daemon.receipts
        await publish(broker, f"{stations}/station-1", "online")
        put = time.time_ns()
        await eventually(lambda: receipts.online() == ["station-1"], 20, "station-1 online")
        # The broker saved the station online (autosave_interval 1): that save is kept.
        await eventually(lambda: db.exists() and db.stat().st_mtime_ns > put, 10, "saved")
        shutil.copy2(db, saved)
        await publish(broker, f"{stations}/station-1", "offline")  # its Last Will
        await eventually(lambda: receipts.online() == [], 10, "no station online")
        assert daemon.mqtt is not None
        sink = daemon.mqtt
        # The broker crashes and comes back from the older save.
        await asyncio.to_thread(broker.kill)
        shutil.copy2(saved, db)
        await eventually(lambda: not sink.connected, 20, "the chair's link lost")
        await asyncio.to_thread(broker.start)
        await eventually(lambda: sink.subscribed, 30, "the chair back on the broker")
        # A station heard after the chair's resubscribe: the replay (sent at the
        # subscribe, before it) was read by then.
        await publish(broker, f"{stations}/station-9", "offline")
        await eventually(lambda: "station-9" in receipts.stations, 20, "station-9 heard")
        assert receipts.online() == [], "a gone station read online from an older save"
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)
