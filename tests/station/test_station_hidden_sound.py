"""A new alarm in a station tab in the background for over a minute sounds at its own
message and repeats (every 8 s for a high alarm, docs/station.md "Sound"), not held back
to Chromium's once-a-minute timers of a hidden, silent tab. In a file of its own beside
test_station_hidden_stale.py: each waits out the throttling (~2 min), and the suite runs a
file on one worker (--dist loadfile).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import (
    alert,
    login_page,
    session,
    station_and_browser,
)
from tests.station.test_station_hidden_stale import THROTTLED_AFTER_S


async def test_a_new_alarm_in_a_tab_hidden_for_minutes_sounds_at_once_and_repeats(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Its first burst from the alarm's own message, its repeats (every 8 s for a high
    alarm, docs/station.md "Sound") not held back to once a minute: a tab that sounds is
    not throttled (Chromium exempts an audible one), a guard that this stays so."""
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await page.until("!!document.querySelector('.tile')", 20, "chair-1's tile")
        await page.js("window.__runs = 0; setInterval(() => { window.__runs++; }, 1000); 1")
        await page.other_tab_in_front()
        await page.until("document.visibilityState === 'hidden'", 10, "the tab hidden")
        await asyncio.sleep(THROTTLED_AFTER_S)
        runs = await page.js("window.__runs")
        await page.until(f"window.__runs > {runs}", 70, "a throttled run of the page's timer")
        await pub.active("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")], sess)
        await page.until("window.__monitordAudio.log.length >= 1", 10, "its first burst")
        # Three bursts (at once, 8 s and 16 s on), not one a minute.
        await page.until("window.__monitordAudio.log.length >= 3", 25, "its repeats")
        log = await page.js("window.__monitordAudio.log")
        assert [x["priority"] for x in log[:3]] == ["high"] * 3, log
        await page.close()
