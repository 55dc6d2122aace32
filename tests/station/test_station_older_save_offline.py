"""A broker restored from an older save, the chair gone meanwhile: its replayed `offline`
must mark it OFFLINE (docs/station.md "MQTT"; clinical-rules.md "Delivery of alarms").
Real mosquitto (a crash, SIGKILL, comes back from its last autosave), the real station
and a nurse's page in real headless Chromium.

The chair went offline (its Last Will, or a clean stop) and the broker saved that; the
chair came back `online`, heard by the station, before the next save. The broker then
crashes, and the chair does not come back (its Pi lost power with the broker's host, its
network cut): nobody will publish its Last Will, the restored store holds only its
`offline`, replayed at the station's resubscribe. That `offline` was heard before, with
the `online` since: an older save's, but here the true one. Ignored as such (the first
cut of the older-save rule ignored any such status), the tile read ONLINE and no tone
sounded for a chair nobody monitored, with nothing left to say otherwise (NOT HEARD is
shown only, and never for a chair with no streaming device). Only an older save's
`online` is ignored: a replayed `offline` is the fail-safe reading (a live chair says
`online` again at its reconnect)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto, session_tmpdir
from tests.station.station_kit import mqtt_login, session, station_page, tile

SOUND = "window.__monitordAudio.current?.priority"


async def test_an_older_save_marks_a_chair_gone_meanwhile_offline(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # A broker of its own: its store is rolled back below.
    broker = Mosquitto(session_tmpdir("mosquitto-older-save-offline"))
    db, saved = broker.datadir / "mosquitto.db", tmp_path / "older.db"
    try:
        broker.start()
        async with station_page(tmp_path, broker, mqtt_prefix) as (page, pub):
            await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
            await page.until(f"!!{tile('chair-1')}", 20, "chair-1's tile")
            await pub.status("chair-1", "offline")  # its Last Will: a network blip
            put = time.time_ns()
            await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
            # The broker saved the chair offline (autosave_interval 1): that save is kept.
            await eventually(lambda: db.exists() and db.stat().st_mtime_ns > put, 10, "saved")
            shutil.copy2(db, saved)
            await pub.status("chair-1", "online")  # back, before the next save
            await page.until(f"!{tile('chair-1')}.classList.contains('offline')", 10, "online")
            # The broker crashes and comes back from the older save; the chair is gone.
            await asyncio.to_thread(broker.kill)
            shutil.copy2(saved, db)
            await asyncio.to_thread(broker.start)
            await page.until("!document.body.classList.contains('stale')", 30, "live again")
            # A chair heard after the station's resubscribe: the replay (sent at the
            # subscribe, before it) was read by then.
            async with mqtt_login(broker) as c:
                await pub.__class__(c, mqtt_prefix).status("chair-2", "online")
                await page.until(f"!!{tile('chair-2')}", 20, "chair-2 heard after the replay")
            text = await page.js(f"{tile('chair-1')}.innerText")
            assert "OFFLINE" in text, text
            assert await page.js(f"{SOUND}") == "technical", "no tone for a chair gone"
    finally:
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)
