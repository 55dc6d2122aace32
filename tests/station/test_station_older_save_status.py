"""A broker restored from an older save must not bring a lost chair back ONLINE
(docs/station.md "MQTT"; clinical-rules.md "Delivery of alarms": the Last Will marks the
chair offline for the station). Real mosquitto (its persistence: a crash, SIGKILL, comes
back from its last autosave, up to 30 min old with Debian's default), the real station and
a nurse's page in real headless Chromium.

A chair in a session says `online` (retained, saved by the broker), then goes offline (its
clean stop, or its Last Will): the tile reads OFFLINE and the station's technical tone
sounds. The broker then crashes and comes back from the save taken before: it replays the
chair's `online`, which the station heard before the `offline`. Before, the station took
it as the chair's state: the tile read ONLINE again and the tone stopped, for a chair nobody
monitors (its daemon gone, nothing left to say otherwise). Now a replayed status heard
before another one since is an older save's, and the held status stands (as an older
active set is kept out)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto, session_tmpdir
from tests.station.station_kit import mqtt_login, session, station_page, tile

SOUND = "window.__monitordAudio.current?.priority"


async def test_an_older_save_does_not_bring_a_lost_chair_back_online(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # A broker of its own: its store is rolled back below.
    broker = Mosquitto(session_tmpdir("mosquitto-older-save"))
    db, saved = broker.datadir / "mosquitto.db", tmp_path / "older.db"
    try:
        broker.start()
        async with station_page(tmp_path, broker, mqtt_prefix) as (page, pub):
            await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
            put = time.time_ns()
            await page.until(f"!!{tile('chair-1')}", 20, "chair-1's tile")
            # The broker saved the chair online (autosave_interval 1): that save is kept.
            await eventually(lambda: db.exists() and db.stat().st_mtime_ns > put, 10, "saved")
            shutil.copy2(db, saved)
            await pub.status("chair-1", "offline")  # its daemon stopped
            await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
            await page.until(f"{SOUND} === 'technical'", 10, "the lost chair's tone")
            # The broker crashes and comes back from the older save.
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
            assert "OFFLINE" in text and "ONLINE" not in text, text
            assert await page.js(f"{SOUND}") == "technical", "the lost chair's tone stopped"
    finally:
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)
