"""Audio pause and a board gone stale (docs/station.md "Sound"): "Audio pause silences
everything ... for 2 min (a banner counts down) and acknowledges nothing", and "a chair
lost or the board gone stale ends the pause at once, so it is never only on screen".
Real station, real mosquitto (stopped: the station loses the broker), real headless
Chromium.

The pause tapped over a sounding high alarm: silent, its banner counting down from 2 min,
the alarm still unacknowledged (its ACK on the tile). The broker lost: the board is not
live, nobody can know the alarm was acknowledged since, and the pause ends at once: the
high alarm sounds again (the highest last known, docs/station.md "Stale")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile

SOUND = "window.__monitordAudio.current?.priority"


async def test_the_board_gone_stale_ends_the_audio_pause(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        await page.until(f"{SOUND} === 'high'", 20, "high sounding")
        await page.tap("#pause")
        await page.until("window.__monitordAudio.paused === true", 5, "paused")
        assert await page.js("window.__monitordAudio.current") is None
        left = await page.js("document.getElementById('paused-left').textContent")
        assert left.endswith(" s left") and 110 <= int(left.split()[0]) <= 120, left
        assert not await page.js("document.getElementById('paused-banner').hidden")
        # Acknowledges nothing: the alarm's ACK is still there, the tile still flashing.
        assert await page.js(f"!!{tile('chair-1')}.querySelector('button.ack')")
        assert "flash" in await page.js(f"{tile('chair-1')}.className")
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("document.body.classList.contains('stale')", 15, "stale")
            await page.until(f"{SOUND} === 'high'", 5, "the pause ended by the stale board")
            assert await page.js("window.__monitordAudio.paused") is False
            assert await page.js("document.getElementById('paused-banner').hidden")
            await page.screenshot(tmp_path / "stale_after_pause.png")
        finally:
            await asyncio.to_thread(mosquitto.start)
