"""A stale board does not say a chair's devices are "ok" (docs/station.md "Stale"). Before,
with the station off the broker, every tile still read `devices: monitor ok` beside its
greyed ONLINE badge: a link seen working now, on a board that had heard nothing since
the connection was lost. A link last known LOST still reads LOST. Back live, they read "ok"
again. Real station, real mosquitto
(stopped), real headless Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile

LINKS = f"{tile('chair-1')}.querySelector('.links').textContent"
LOST = f"{tile('chair-2')}.querySelector('.links').textContent"


async def test_a_stale_board_says_its_device_links_are_not_known(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [alert("chair-1", "spo2.low", "medium", "SpO2 88 < 90")])
        lost = alert("chair-2", "tech.device_lost", "medium", "cuff lost", kind="technical")
        await pub.chair("chair-2", [{**lost, "value": {"device": "cuff"}}])
        await page.until(f"{LINKS}.includes('monitor ok')", 20, "live: monitor ok")
        await page.until(f"{LOST}.includes('cuff LOST')", 20, "live: cuff LOST")
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("document.body.classList.contains('stale')", 15, "stale")
            await page.until(f"{LINKS}.includes('not known (board not live)')", 10, "not known")
            assert "ok" not in await page.js(LINKS)
            # A link last known lost is not turned into "not known": it was lost.
            assert "cuff LOST" in await page.js(LOST)
        finally:
            await asyncio.to_thread(mosquitto.start)
        await page.until("!document.body.classList.contains('stale')", 30, "live again")
        await page.until(f"{LINKS}.includes('monitor ok')", 10, "monitor ok again")
