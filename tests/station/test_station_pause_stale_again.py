"""Audio pause over one stale time, and the board gone stale again during it
(docs/station.md "Sound"): the pause "is for the alarms sounding when it was tapped: ...
a chair lost or the board gone stale ends the pause at once, so it is never only on
screen". Real station, real mosquitto (stopped twice: the station loses the broker), real
headless Chromium.

The broker lost: the board is stale, its technical tone sounds, and the nurse taps Audio
pause (she knows; IT is on it). The broker comes back: the board is live. Lost again
within the pause's 2 min: a new stale time, which nobody paused. Before, the page keyed
the stale board as one alarm for every stale time, so the second found it "already
paused": its tone stayed off and the board went on NOT LIVE on screen only, up to 2 min."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import station_page

SOUND = "window.__monitordAudio.current?.priority"
STALE = "document.body.classList.contains('stale')"


async def test_the_board_stale_again_during_a_pause_ends_it(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, _pub):
        assert not await page.js(STALE)
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until(STALE, 15, "stale (the broker lost)")
            await page.until(f"{SOUND} === 'technical'", 5, "the stale board's tone")
            await page.tap("#pause")
            await page.until("window.__monitordAudio.paused === true", 5, "paused")
            assert await page.js("window.__monitordAudio.current") is None
        finally:
            await asyncio.to_thread(mosquitto.start)
        # Live again (the station back on the broker), the pause still running: nothing
        # sounds, nothing new came.
        await page.until(f"!{STALE}", 30, "live again (the broker back)")
        assert await page.js("window.__monitordAudio.paused") is True
        assert await page.js("window.__monitordAudio.current") is None
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until(STALE, 15, "stale again (the broker lost again)")
            # A new stale time: it ends the pause at once and its tone sounds.
            await page.until(f"{SOUND} === 'technical'", 5, "the second stale time's tone")
            assert await page.js("window.__monitordAudio.paused") is False
            assert await page.js("document.getElementById('paused-banner').hidden")
        finally:
            await asyncio.to_thread(mosquitto.start)
