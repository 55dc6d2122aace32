"""On a small touchscreen (800x480) the banners and the alarm bar together leave the
board its 40 % of the screen: the alarm bar gives way to the banners (scrolling within
itself, its highest alarm still in view). Before, the bar kept its 30 % whatever the
banners above it took: with the audio paused and the NOT LIVE banner that every network
blip leaves until a nurse taps Seen, the sticky top covered three quarters of the screen
and the board showed less than a tile's heading (docs/station.md "Alarm bar"). Real
station, real mosquitto (stopped and started again), real headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import station_page
from tests.station.test_station_alarm_bar_small import in_alarm

# The sticky top's bottom, the bar's box, and the first link's priority tag inside the bar.
TOP = """(() => {
  const bar = document.getElementById('alarm-bar').getBoundingClientRect();
  const tag = document.querySelector('#alarm-bar a:first-child .tag').getBoundingClientRect();
  return {
    bottom: document.getElementById('top').getBoundingClientRect().bottom,
    first: tag.top >= bar.top && tag.bottom <= bar.bottom,
    banners: ['paused-banner', 'gap-banner'].map((id) => !document.getElementById(id).hidden),
  };
})()"""


async def test_banners_and_the_alarm_bar_leave_the_board_on_a_small_screen(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    h = 480
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(800, h)) as (page, pub):
        await in_alarm(pub, 12)
        await page.until("document.querySelectorAll('#alarm-bar a').length === 12", 20, "links")
        # A network blip: the board stale, then live again, its NOT LIVE banner until Seen.
        await asyncio.to_thread(mosquitto.stop)
        await page.until("document.body.classList.contains('stale')", 20, "stale")
        await asyncio.to_thread(mosquitto.start)
        await page.until("!document.getElementById('gap-banner').hidden", 30, "live again")
        await page.tap("#pause")
        await page.until("!document.getElementById('paused-banner').hidden", 10, "paused")
        await page.screenshot(tmp_path / "top.png")
        got = await page.js(TOP)
        assert got["banners"] == [True, True]
        assert got["bottom"] <= 0.6 * h, got
        assert got["first"], got
