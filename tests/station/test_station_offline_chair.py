"""A chair whose daemon goes offline (its Last Will, or a clean stop) in a real browser.
Its own alarms went with it: the station is the one place left that can tell. Before,
the tile only turned grey, the page stayed silent, and an offline chair lost the red
flashing of its unacknowledged high alarm (docs/station.md "Offline chairs")."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.servers import Mosquitto
from tests.station.station_kit import TZ, alert, session, station_page, tile, vitals


async def test_a_chair_lost_in_session_is_unmistakable_and_sounds(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await pub.chair("chair-2", [], sess=session("dosing", "esketamine", 15))
        await pub.chair("chair-3", [])  # no session: end of day
        await page.until("document.querySelectorAll('.tile').length === 3", 20, "tiles")
        assert await page.js("window.__monitordAudio.current") is None
        # The end of the day: a chair without a session goes offline: shown, silent.
        await pub.status("chair-3", "offline")
        await page.until(f"{tile('chair-3')}.classList.contains('offline')", 10, "chair-3")
        await asyncio.sleep(1)
        assert await page.js("window.__monitordAudio.current") is None
        # Its last reading; then the daemon dies in mid-session and the broker publishes
        # its Last Will, whose time is when the daemon connected (here 3 h ago).
        last = vitals("chair-2", 124, 78, 72, 98)  # after its online status and set
        await pub.vitals("chair-2", last)
        await pub.status("chair-2", "offline", t=time.time() - 3 * 3600)
        await page.until(
            "window.__monitordAudio.current?.priority === 'technical'", 10, "technical tone"
        )
        text = await page.js(f"{tile('chair-2')}.innerText")
        await page.screenshot(tmp_path / "offline.png")
        at = datetime.fromisoformat(last["hr"]["measured_at"]).astimezone(ZoneInfo(TZ))
        # The page puts the chair's time on the station's clock (`onStation`: an offset
        # measured from the messages' arrival, a second or two off on a loaded machine),
        # so the minute may be the next or the last one near a minute's edge.
        near = {f"{at + timedelta(seconds=d):%H:%M}" for d in (-3, 0, 3)}
        assert any(f"OFFLINE — not monitored since {m}" in text for m in near), text
        assert "STALE" in text and "monitor ok" not in text, text
        bar = await page.js("document.getElementById('alarm-bar').innerText")
        assert "chair-2" in bar and "OFFLINE" in bar and "chair-3" not in bar, bar
        # ACK here silences it (nothing else sounds); the tile stays OFFLINE.
        await page.tap('.tile[data-chair="chair-2"] button.offline-ack')
        await page.until("window.__monitordAudio.current === null", 5, "acknowledged")
        assert "ACK (this screen)" in await page.js(f"{tile('chair-2')}.innerText")
        # Back online, then lost again: a new episode sounds again.
        await pub.status("chair-2", "online")
        await page.until(f"!{tile('chair-2')}.classList.contains('offline')", 10, "online")
        await pub.status("chair-2", "offline")
        await page.until(
            "window.__monitordAudio.current?.priority === 'technical'", 10, "sounds again"
        )


async def test_an_offline_chair_keeps_its_alarm_colours_and_sound(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        await pub.chair("chair-2", [], sess=session("dosing", "esketamine", 15))
        await page.until(f"{tile('chair-1')}.className.includes('p-high')", 20, "red")
        await pub.status("chair-1", "offline")
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        cls = await page.js(f"{tile('chair-1')}.className")
        assert "p-high" in cls and "flash" in cls, cls
        await page.screenshot(tmp_path / "offline_high.png")
        # The unacknowledged high still sounds, above the technical tone.
        assert (await page.js("window.__monitordAudio.current"))["priority"] == "high"
