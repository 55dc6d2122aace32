"""The station loses the broker while a high alarm sounds, unacknowledged (docs/station.md
"Stale"). Before, the whole board turned grey and the high tone became the technical
one: the last known alarm, which nobody may have acknowledged, lost colour and sound."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile


async def test_connection_lost_keeps_the_last_known_alarms(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        await pub.chair("chair-2", [alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90")])
        await page.until("window.__monitordAudio.current?.priority === 'high'", 20, "high")
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("document.body.classList.contains('stale')", 15, "stale")
            await page.screenshot(tmp_path / "stale.png")
            assert (await page.js("window.__monitordAudio.current"))["priority"] == "high"
            cls = await page.js(f"{tile('chair-1')}.className")
            assert "p-high" in cls and "flash" in cls, cls
            assert "p-medium" in await page.js(f"{tile('chair-2')}.className")
            assert await page.js(f"getComputedStyle({tile('chair-1')}).filter") == "none"
            assert "STALE" in await page.js(
                f"getComputedStyle({tile('chair-1')}, '::before').content"
            )
            banner = await page.js("document.getElementById('stale-banner').innerText")
            assert "CONNECTION LOST since" in banner, banner
        finally:
            await asyncio.to_thread(mosquitto.start)
