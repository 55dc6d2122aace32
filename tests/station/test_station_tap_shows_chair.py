"""A tap on a chair in the alarm bar shows that chair's tile below the sticky top (header,
banners, alarm bar): its heading (the chair id: where the nurse goes) and the ACK of the
alarm tapped, or, for a tile taller than the space under the top, its heading first
(docs/station.md "Alarm bar"). Before, the tile was centred in the whole window: a tile
taller than the space left its heading under the top (a 64-character id on an 800x480
screen), and with the audio paused and the board NOT LIVE a normal tile did the same.
From the top of the board and from its bottom (the tile above the screen). Real station,
real mosquitto (stopped for the NOT LIVE banner), real headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import ChairPublisher, alert, session, station_page, vitals

LONGEST = "chair-" + "W" * 58  # Ident's max_length, 64 characters
OTHERS = [f"chair-{i}" for i in range(1, 13)]

# The tapped tile's chair id and its alarm's ACK: each whole between the top's bottom and
# the screen's, and what is found at its corners is itself (nothing drawn over it). `fits`:
# the heading down to the ACK fits in the space under the top. `first`: the id's first
# line is seen there; `long`: the id alone is taller than the space (eight lines of a
# 64-character id beside the badge, under the top with the banners up at 800x480).
SEEN = """((chair, id) => {
  const bottom = document.getElementById('top').getBoundingClientRect().bottom;
  const tile = document.querySelector(`.tile[data-chair="${chair}"]`);
  const name = tile.querySelector('.head .name');
  const ack = tile.querySelector(`li[data-alert-id="${id}"] button.ack`);
  const seen = (e) => {
    const r = e.getBoundingClientRect();
    const at = (x, y) => e.contains(document.elementFromPoint(x, y));
    return r.top >= bottom - 0.5 && r.bottom <= innerHeight + 0.5
      && at(r.left + 3, r.top + 3) && at(r.right - 3, r.bottom - 3);
  };
  const n = name.getBoundingClientRect(), a = ack.getBoundingClientRect();
  const first = n.top >= bottom - 0.5
    && name.contains(document.elementFromPoint(n.left + 3, n.top + 3));
  return {
    name: seen(name), ack: seen(ack), first, long: n.height > innerHeight - bottom,
    fits: a.bottom - n.top <= innerHeight - bottom,
  };
})"""


async def board(pub: ChairPublisher, tapped: str) -> dict[str, Any]:
    """Twelve chairs in session and `tapped`, in alarm."""
    sess = session("dosing", "esketamine", 20)
    for cid in [*OTHERS, tapped]:
        await pub.status(cid, "online")
        await pub.vitals(cid, vitals(cid, 131, 84, 71, 97, 200))
    for cid in OTHERS:
        await pub.active(cid, [], sess)
    a = alert(tapped, "bp.crisis", "high", "BP 212/124 >= 180/110")
    await pub.active(tapped, [a], sess)
    return a


# The middle of what is seen of the chair's link: the bar scrolls within its box, and a
# link of a 64-character id (four lines) is taller than the bar with the banners up.
SEEN_OF_LINK = """((chair) => {
  const l = document.querySelector(`#alarm-bar a[data-chair="${chair}"]`).getBoundingClientRect();
  const b = document.getElementById('alarm-bar').getBoundingClientRect();
  const x = (l.left + l.right) / 2, y = (Math.max(l.top, b.top) + Math.min(l.bottom, b.bottom)) / 2;
  const hit = document.elementFromPoint(x, y);
  return {x, y, on: hit !== null && hit.dataset.chair === chair && hit.tagName === 'A'};
})"""


async def tap_link(page: Page, chair: str) -> None:
    """A trusted click (a nurse's tap) on the chair's link in the alarm bar."""
    at: dict[str, Any] = await page.js(f"({SEEN_OF_LINK})({chair!r})")
    assert at["on"], at
    for kind in ("mousePressed", "mouseReleased"):
        await page.send(
            "Input.dispatchMouseEvent", type=kind, x=at["x"], y=at["y"], button="left", clickCount=1
        )


@pytest.mark.parametrize("banners", [False, True], ids=["no-banner", "paused-not-live"])
@pytest.mark.parametrize("chair", ["chair-13", LONGEST], ids=["id", "id-64"])
@pytest.mark.parametrize("size", [(800, 480), (1280, 720)], ids=["800x480", "1280x720"])
async def test_a_tap_in_the_alarm_bar_shows_the_chair_id_and_its_ack(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    size: tuple[int, int],
    chair: str,
    banners: bool,
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=size) as (page, pub):
        a = await board(pub, chair)
        ack = f"document.getElementById('ack:{chair}:{a['alert_id']}')"
        await page.until(
            f"document.querySelector('#alarm-bar a[data-chair=\"{chair}\"]') !== null"
            f" && {ack} !== null"
            " && document.querySelectorAll('.tile').length === 13",
            20,
            "the board and the alarm",
        )
        stopped = False
        try:
            if banners:
                # Not live first: the board gone stale ends a pause (a new reason to sound).
                await asyncio.to_thread(mosquitto.stop)
                stopped = True
                await page.until("!document.getElementById('stale-banner').hidden", 20, "stale")
                await page.tap("#pause")
                await page.until("!document.getElementById('paused-banner').hidden", 10, "paused")
            for start in ("0", "document.documentElement.scrollHeight"):
                await page.js(f"(() => {{ window.scrollTo(0, {start}); return 1; }})()")
                await tap_link(page, chair)
                up = await page.js(
                    "!document.getElementById('stale-banner').hidden"
                    " && !document.getElementById('paused-banner').hidden"
                )
                assert up == banners
                got = await page.js(f"({SEEN})({chair!r}, {a['alert_id']!r})")
                await page.screenshot(tmp_path / f"tap_{'top' if start == '0' else 'bottom'}.png")
                # The heading always (its first line where it alone is taller than the
                # space), the ACK too where both fit under the top.
                want = {"name": not got["long"], "ack": got["fits"], "first": True}
                assert got == {**want, "long": got["long"], "fits": got["fits"]}, (start, got)
        finally:
            if stopped:
                await asyncio.to_thread(mosquitto.start)
