"""A broker restored from an older save must not bring a lost chair back ONLINE, and must
mark a chair gone meanwhile OFFLINE (docs/station.md "MQTT"; clinical-rules.md "Delivery
of alarms": the Last Will marks the chair offline for the station). Real mosquitto (its
persistence: a crash, SIGKILL, comes back from its last autosave, up to 30 min old with
Debian's default), the real station and a nurse's page in real headless Chromium.

Online case: a chair in a session says `online` (retained, saved by the broker), then goes
offline (its clean stop, or its Last Will): the tile reads OFFLINE and the station's
technical tone sounds. The broker then crashes and comes back from the save taken before:
it replays the chair's `online`, which the station heard before the `offline`. Before, the
station took it as the chair's state: the tile read ONLINE again and the tone stopped, for
a chair nobody monitors (its daemon gone, nothing left to say otherwise). Now a replayed
status heard before another one since is an older save's, and the held status stands (as
an older active set is kept out).

Offline case: the chair went offline (its Last Will, or a clean stop) and the broker saved
that; the chair came back `online`, heard by the station, before the next save. The broker
then crashes, and the chair does not come back (its Pi lost power with the broker's host,
its network cut): nobody will publish its Last Will, the restored store holds only its
`offline`, replayed at the station's resubscribe. That `offline` was heard before, with the
`online` since: an older save's, but here the true one. Ignored as such (the first cut of
the older-save rule ignored any such status), the tile read ONLINE and no tone sounded for
a chair nobody monitored, with nothing left to say otherwise (NOT HEARD is shown only, and
never for a chair with no streaming device). Only an older save's `online` is ignored: a
replayed `offline` is the fail-safe reading (a live chair says `online` again at its
reconnect)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.heard.test_station_status_older_save import keep_save
from tests.servers import Mosquitto, session_tmpdir
from tests.station.cdp import Page
from tests.station.station_kit import ChairPublisher, mqtt_login, session, station_page, tile

SOUND = "window.__monitordAudio.current?.priority"


@asynccontextmanager
async def own_broker(name: str) -> AsyncIterator[Mosquitto]:
    """A broker of its own: its store is rolled back by the test."""
    broker = Mosquitto(session_tmpdir(name))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)


async def crash_back_to(broker: Mosquitto, saved: Path, page: Page, prefix: str) -> None:
    """The broker crashes and comes back from `saved`; returns once the replay was read."""
    await asyncio.to_thread(broker.kill)
    shutil.copy2(saved, broker.datadir / "mosquitto.db")
    await asyncio.to_thread(broker.start)
    await page.until("!document.body.classList.contains('stale')", 30, "live again")
    # A chair heard after the station's resubscribe: the replay (sent at the
    # subscribe, before it) was read by then.
    async with mqtt_login(broker) as c:
        await ChairPublisher(c, prefix).status("chair-2", "online")
        await page.until(f"!!{tile('chair-2')}", 20, "chair-2 heard after the replay")


async def test_an_older_save_does_not_bring_a_lost_chair_back_online(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    saved = tmp_path / "older.db"
    async with (
        own_broker("mosquitto-older-save") as broker,
        station_page(tmp_path, broker, mqtt_prefix) as (page, pub),
    ):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        put = time.time_ns()
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1's tile")
        await keep_save(broker, put, saved)  # the chair online
        await pub.status("chair-1", "offline")  # its daemon stopped
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        await page.until(f"{SOUND} === 'technical'", 10, "the lost chair's tone")
        await crash_back_to(broker, saved, page, mqtt_prefix)
        text = await page.js(f"{tile('chair-1')}.innerText")
        assert "OFFLINE" in text and "ONLINE" not in text, text
        assert await page.js(f"{SOUND}") == "technical", "the lost chair's tone stopped"


async def test_an_older_save_marks_a_chair_gone_meanwhile_offline(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    saved = tmp_path / "older.db"
    async with (
        own_broker("mosquitto-older-save-offline") as broker,
        station_page(tmp_path, broker, mqtt_prefix) as (page, pub),
    ):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1's tile")
        await pub.status("chair-1", "offline")  # its Last Will: a network blip
        put = time.time_ns()
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        await keep_save(broker, put, saved)  # the chair offline
        await pub.status("chair-1", "online")  # back, before the next save
        await page.until(f"!{tile('chair-1')}.classList.contains('offline')", 10, "online")
        # The chair is gone by the crash.
        await crash_back_to(broker, saved, page, mqtt_prefix)
        text = await page.js(f"{tile('chair-1')}.innerText")
        assert "OFFLINE" in text, text
        assert await page.js(f"{SOUND}") == "technical", "no tone for a chair gone"
