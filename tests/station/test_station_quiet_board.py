"""A quiet board stays live (docs/station.md "Stale": "the server sends a heartbeat every 2 s;
after 6 s without one ... the wallboard is not live"). On a quiet night no chair publishes
for minutes (no streaming device, no alarm change): the station's heartbeats alone keep the
page live. Heartbeats further apart than the page's stale time flap the board STALE with its
technical tone, every few seconds, over a site where nothing is wrong, and a tone that
sounds for nothing is soon not heard. Real station, real mosquitto, real headless Chromium.

The other stale tests (test_station_alarm.py, test_station_hidden_stale.py, ...) show a
silent station found stale; none held that a live one with nothing to say is not: with the
server's heartbeat at 7 s the suite passed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import session, station_page

# Longer than two of the page's stale times (6 s): heartbeats too far apart show in it.
QUIET_S = 14
WATCH = (
    "window.__everStale = false; window.__everTechnical = false;"
    " new MutationObserver(() => { if (document.body.classList.contains('stale'))"
    " window.__everStale = true; })"
    ".observe(document.body, {attributes: true, attributeFilter: ['class']});"
    " window.__toneWatch = setInterval(() => { if (window.__monitordAudio.current?.priority"
    " === 'technical') window.__everTechnical = true; }, 200); 1"
)


async def test_a_quiet_board_is_kept_live_by_the_heartbeats(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("idle", "", None))
        await page.until("!!document.querySelector('.tile')", 20, "chair-1's tile")
        await page.until("!document.body.classList.contains('stale')", 10, "the board live")
        await page.js(WATCH)
        # Nothing published by any chair from here on: only the station speaks.
        await asyncio.sleep(QUIET_S)
        assert await page.js("window.__everStale") is False, "a quiet board went STALE"
        assert await page.js("window.__everTechnical") is False, "a quiet board sounded"
        assert await page.js("document.getElementById('stale-banner').hidden") is True
