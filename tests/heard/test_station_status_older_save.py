"""A broker back from an older save must not bring a station heard gone back online for the
chairs, nor keep one gone meanwhile online (docs/delivery.md "Receipts and station status":
with no station online while an alert is active, `monitord status` says `stations: NONE
online` and the annunciator sounds `technical`). An in-process daemon on a real mosquitto
whose store is rolled back: a crash (SIGKILL) restores its last autosave, up to 30 min old
with Debian's default.

Online case: the station says `online` (retained, saved by the broker), then goes away
(its Last Will): the chair counts no station online. The broker crashes and comes back
from the save taken before: at the chair's reconnect it replays the station's `online`,
which the chair heard before the `offline`. Before, the chair took it as the station's
state: a station online, the annunciator's "no station" condition off, for a station that
is gone. Now a replayed status heard before another one since is an older save's, and the
one heard since stands.

Offline case: the station went away (its Last Will) and the broker saved that; it came back
`online`, heard by the chair, before the next save. The broker then crashes and the station
does not come back (its host went down with the broker's): the restored store holds only
its `offline`, replayed at the chair's reconnect, heard before with the `online` since.
Taken for an older save's and ignored (the first cut of the older-save rule ignored any
such status), the chair counted a gone station online for good (a daemon hears stations by
their statuses alone): no `NONE online`, the annunciator silent while nobody watches. Only
an older save's `online` is ignored: a replayed `offline` is the fail-safe reading (a live
station says `online` again at its reconnect)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def chair_on_own_broker(
    tmp_path: Path, mqtt_prefix: str, name: str
) -> AsyncIterator[tuple[Mosquitto, Daemon]]:
    """A chair's daemon on a broker of its own (its store is rolled back by the test)."""
    broker = Mosquitto(session_tmpdir(name))
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
        yield broker, daemon
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)


async def keep_save(broker: Mosquitto, put: int, saved: Path) -> None:
    """The broker's save taken after `put` (autosave_interval 1), kept as `saved`."""
    db = broker.datadir / "mosquitto.db"
    await eventually(lambda: db.exists() and db.stat().st_mtime_ns > put, 10, "saved")
    shutil.copy2(db, saved)


async def crash_back_to(broker: Mosquitto, daemon: Daemon, saved: Path, stations: str) -> None:
    """The broker crashes and comes back from `saved`; returns once the replay was read."""
    assert daemon.mqtt is not None
    sink = daemon.mqtt
    await asyncio.to_thread(broker.kill)
    shutil.copy2(saved, broker.datadir / "mosquitto.db")
    await eventually(lambda: not sink.connected, 20, "the chair's link lost")
    await asyncio.to_thread(broker.start)
    await eventually(lambda: sink.subscribed, 30, "the chair back on the broker")
    # A station heard after the chair's resubscribe: the replay (sent at the
    # subscribe, before it) was read by then.
    await publish(broker, f"{stations}/station-9", "offline")
    await eventually(lambda: "station-9" in daemon.receipts.stations, 20, "station-9 heard")


async def test_an_older_save_does_not_bring_a_gone_station_back_online(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    saved, stations = tmp_path / "older.db", f"{mqtt_prefix}/site-1/stations"
    name = "mosquitto-older-save-station"
    async with chair_on_own_broker(tmp_path, mqtt_prefix, name) as (broker, daemon):
        receipts = daemon.receipts
        await publish(broker, f"{stations}/station-1", "online")
        put = time.time_ns()
        await eventually(lambda: receipts.online() == ["station-1"], 20, "station-1 online")
        await keep_save(broker, put, saved)  # the station online
        await publish(broker, f"{stations}/station-1", "offline")  # its Last Will
        await eventually(lambda: receipts.online() == [], 10, "no station online")
        await crash_back_to(broker, daemon, saved, stations)
        assert receipts.online() == [], "a gone station read online from an older save"


async def test_an_older_save_counts_a_station_gone_meanwhile_gone(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    saved, stations = tmp_path / "older.db", f"{mqtt_prefix}/site-1/stations"
    name = "mosquitto-older-save-station-gone"
    async with chair_on_own_broker(tmp_path, mqtt_prefix, name) as (broker, daemon):
        receipts = daemon.receipts
        await publish(broker, f"{stations}/station-1", "online")
        await eventually(lambda: receipts.online() == ["station-1"], 20, "station-1 online")
        await publish(broker, f"{stations}/station-1", "offline")  # its Last Will
        put = time.time_ns()
        await eventually(lambda: receipts.online() == [], 10, "no station online")
        await keep_save(broker, put, saved)  # the station offline
        await publish(broker, f"{stations}/station-1", "online")  # back, before the next save
        await eventually(lambda: receipts.online() == ["station-1"], 10, "station-1 back")
        # The station is gone by the crash.
        await crash_back_to(broker, daemon, saved, stations)
        assert receipts.online() == [], "a station gone meanwhile read online"
