"""A phone's screen (360 CSS pixels wide, the narrowest common one) shows the board one
tile wide, inside the screen: no sideways scroll, every tile's state and ACK in view
(docs/station.md "The page": the pages of the clinic's wallboards, tablets and phones).
Before, a tile was never narrower than 340 px, which with the board's margins is wider
than such a screen: the page scrolled sideways and the right edge of every tile (its
ONLINE badge, its ACK buttons) was off the screen. The readings' values stay whole, each
on one line, and apart: "212/124" beside "128" never reads "212/124128". Real station,
real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, vitals

# Each tile's box, its badge and ACKs inside the screen; the page not scrolling sideways.
FIT = """(() => {
  const vw = document.documentElement.clientWidth;
  const inside = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.right <= vw + 0.5;
  };
  return {
    page: document.documentElement.scrollWidth <= vw,
    tiles: [...document.querySelectorAll('.tile')].map((t) => ({
      chair: t.dataset.chair,
      inside: [t, t.querySelector('.head .state'), ...t.querySelectorAll('button.ack')]
        .map(inside),
      values: [...t.querySelectorAll('.vital .v')].map((v) => {
        const g = document.createRange();
        g.selectNodeContents(v);
        return g.getClientRects().length === 1 && inside(v);  // one line, on screen
      }),
      boxes: [...t.querySelectorAll('.vital .v')].map((v) => {
        const g = document.createRange();
        g.selectNodeContents(v);
        const r = g.getBoundingClientRect();
        return [r.left, r.right];
      }),
    })),
  };
})()"""


async def test_the_board_fits_a_phone_screen(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(360, 740)) as (page, pub):
        for i in range(1, 4):
            cid = f"chair-{i}"
            loud = alert(cid, "bp.crisis", "high", "BP 212/124 >= 180/110")
            await pub.chair(cid, [loud], sess=session("dosing", "esketamine", 10))
            await pub.vitals(cid, vitals(cid, 212, 124, 128, 100))  # the widest values
        await page.until("document.querySelectorAll('.tile button.ack').length === 3", 20, "ACKs")
        await page.screenshot(tmp_path / "phone.png")
        got: dict[str, Any] = await page.js(FIT)
        assert got["page"], got
        assert [t["chair"] for t in got["tiles"]] == ["chair-1", "chair-2", "chair-3"]
        for t in got["tiles"]:
            assert t["inside"] == [True, True, True] and t["values"] == [True] * 3, t
            # Each value's text at least half a letter (8 px) before the next one's.
            assert all(b[0] - a[1] >= 8 for a, b in pairwise(t["boxes"])), t
