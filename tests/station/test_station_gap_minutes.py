"""The NOT LIVE banner after a stale time of a minute or more says it in minutes
(docs/station.md "Reconnecting"): "(1 min 5 s)", "(2 min 5 s)", "(1 h 2 min)". Before,
every length was in seconds, "(125 s)", "(3725 s)": a nurse had to work out for how long
the board missed alarms.

Real station, real mosquitto, real headless Chromium: the tab is frozen over the DevTools
protocol (Page.setWebLifecycleState, as tests/station/test_station_frozen_tab.py) for
longer than a minute, resumed, and its own stale check measures the time. Only that it
reads in minutes is asserted, not how many (the machine's load sets the seconds).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import session, station_page, tile

GAP = "document.getElementById('gap-banner')"
STALE = "document.body.classList.contains('stale')"
# Frozen longer than a minute, the stale time (6 s) included.
FROZEN_S = 65


async def test_a_stale_time_over_a_minute_reads_in_minutes(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"{tile('chair-1')} && !{STALE}", 20, "the board live")
        await page.js(
            "window.__life = []; for (const e of ['freeze', 'resume'])"
            " document.addEventListener(e, () => window.__life.push(e)); 1"
        )
        await page.send("Page.setWebLifecycleState", state="frozen")
        await page.until("window.__life.length > 0", 10, "the page's freeze event")
        await asyncio.sleep(FROZEN_S)
        await page.send("Page.setWebLifecycleState", state="active")
        await page.until(f"!{GAP}.hidden", 10, "the NOT LIVE banner")
        await page.until(f"!{STALE}", 10, "live again")
        await page.send("Page.bringToFront")
        await page.screenshot(tmp_path / "gap-minutes.png")
        text = await page.js("document.getElementById('gap-text').textContent")
        assert re.fullmatch(
            r"NOT LIVE from \d\d:\d\d \S+ to \d\d:\d\d \S+ \((\d+ h )?\d+ min( \d+ s)?\): "
            r"alarms raised and cleared in that time were not shown or sounded here\.",
            text,
        ), text
