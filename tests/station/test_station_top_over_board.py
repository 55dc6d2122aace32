"""The sticky top (header, banners, alarm bar) never draws over the board: the board
starts below all of it, its first tile's top in view, and the alarm bar keeps its highest
alarm's first line (docs/station.md "Alarm bar"). Before, the top was held to 60 % of the
screen while its header, banners and the bar's first line were taller than that (a phone,
or an 800x480 touchscreen, the audio not armed and the board stale after a network
blip): the bar ran out of the top's box over the board, and the first tile's top (its
STALE line, on a phone with a wrapped header its chair id) was under it at the top of
the page, where no scrolling brings it out. Real station, real mosquitto (stopped and
started again), real headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.servers import Mosquitto
from tests.station.station_kit import station_page
from tests.station.test_station_alarm_bar_small import in_alarm

# At the top of the page: what of the top is drawn below its box, what is found at the
# first tile's top edge and at its chair id, and the bar's first priority tag in the bar.
OVER = """(() => {
  const top = document.getElementById('top').getBoundingClientRect();
  const below = [...document.querySelectorAll('#bar, .banner:not([hidden]), #alarm-bar')]
    .filter((e) => e.getBoundingClientRect().bottom > top.bottom + 0.5).map((e) => e.id);
  const tile = document.querySelector('.tile'), t = tile.getBoundingClientRect();
  const n = tile.querySelector('.head .name').getBoundingClientRect();
  const at = (x, y) => tile.contains(document.elementFromPoint(x, y));
  const bar = document.getElementById('alarm-bar').getBoundingClientRect();
  const tag = document.querySelector('#alarm-bar a:first-child .tag').getBoundingClientRect();
  return {
    below, edge: at(t.left + t.width / 2, t.top + 4), name: at(n.left + 4, n.top + 4),
    first: tag.top >= bar.top && tag.bottom <= bar.bottom && tag.bottom <= innerHeight,
  };
})()"""


@pytest.mark.parametrize("size", [(800, 480), (360, 740)])
async def test_the_top_never_covers_the_board(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, size: tuple[int, int]
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=size) as (page, pub):
        await in_alarm(pub, 12)
        await page.until("document.querySelectorAll('#alarm-bar a').length === 12", 20, "links")
        # Audio not armed (as on a screen nobody has tapped yet), then a network blip.
        await page.js("audio.ctx.suspend().then(() => 1)")
        await page.until("!document.getElementById('audio-banner').hidden", 10, "not armed")
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("!document.getElementById('stale-banner').hidden", 20, "stale")
            await page.js("(() => { window.scrollTo(0, 0); return 1; })()")
            await page.screenshot(tmp_path / "top.png")
            got = await page.js(OVER)
            assert got == {"below": [], "edge": True, "name": True, "first": True}, got
        finally:
            await asyncio.to_thread(mosquitto.start)
