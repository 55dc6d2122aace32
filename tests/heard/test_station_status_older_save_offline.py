"""A broker back from an older save, the station gone meanwhile: its replayed `offline`
must count it gone for the chairs (docs/delivery.md "Receipts and station status": with
no station online while an alert is active, `monitord status` says `stations: NONE
online` and the annunciator sounds `technical`). An in-process daemon on a real mosquitto
whose store is rolled back: a crash (SIGKILL) restores its last autosave.

The station went away (its Last Will) and the broker saved that; it came back `online`,
heard by the chair, before the next save. The broker then crashes and the station does
not come back (its host went down with the broker's): the restored store holds only its
`offline`, replayed at the chair's reconnect, heard before with the `online` since. Taken
for an older save's and ignored (the first cut of the older-save rule ignored any such
status), the chair counted a gone station online for good (a daemon hears stations by
their statuses alone): no `NONE online`, the annunciator silent while nobody watches.
Only an older save's `online` is ignored: a replayed `offline` is the fail-safe reading
(a live station says `online` again at its reconnect)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.heard.test_station_status_older_save import publish
from tests.kit import eventually
from tests.servers import Mosquitto, session_tmpdir


async def test_an_older_save_counts_a_station_gone_meanwhile_gone(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # A broker of its own: its store is rolled back below.
    broker = Mosquitto(session_tmpdir("mosquitto-older-save-station-gone"))
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
        await eventually(lambda: receipts.online() == ["station-1"], 20, "station-1 online")
        await publish(broker, f"{stations}/station-1", "offline")  # its Last Will
        put = time.time_ns()
        await eventually(lambda: receipts.online() == [], 10, "no station online")
        # The broker saved the station offline (autosave_interval 1): that save is kept.
        await eventually(lambda: db.exists() and db.stat().st_mtime_ns > put, 10, "saved")
        shutil.copy2(db, saved)
        await publish(broker, f"{stations}/station-1", "online")  # back, before the next save
        await eventually(lambda: receipts.online() == ["station-1"], 10, "station-1 back")
        assert daemon.mqtt is not None
        sink = daemon.mqtt
        # The broker crashes and comes back from the older save; the station is gone.
        await asyncio.to_thread(broker.kill)
        shutil.copy2(saved, db)
        await eventually(lambda: not sink.connected, 20, "the chair's link lost")
        await asyncio.to_thread(broker.start)
        await eventually(lambda: sink.subscribed, 30, "the chair back on the broker")
        # A station heard after the chair's resubscribe: the replay (sent at the
        # subscribe, before it) was read by then.
        await publish(broker, f"{stations}/station-9", "offline")
        await eventually(lambda: "station-9" in receipts.stations, 20, "station-9 heard")
        assert receipts.online() == [], "a station gone meanwhile read online"
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)
