"""The station's tab says what the board says in its title, which the browser shows in its
tab strip (and the task bar) while another tab, the EHR, is in front: the alarm bar's
first chair in its words, how many more, NOT LIVE (docs/station.md "The tab's title").
Before, it read "monitord station" whatever the board said: a background tab in alarm
looked like any other. Real station, real mosquitto, real headless Chromium with a
second tab brought to the front; the title read as the browser lists its tabs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import (
    alert,
    login_page,
    session,
    station_and_browser,
    station_page,
)

SOUND = "window.__monitordAudio.current?.priority ?? null"


async def tab_title(page: Page) -> str:
    """The tab's title as the browser lists it (its tab strip), not the page's DOM."""
    targets = (await page.send("Target.getTargets"))["targetInfos"]
    return str(next(t["title"] for t in targets if t["targetId"] == page.target_id))


async def test_a_background_tab_names_its_alarm_in_its_title(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        await page.until("document.querySelectorAll('.tile').length === 2", 20, "two tiles")
        assert await tab_title(page) == "monitord station"
        # The EHR in front: the station's tab is in the background.
        await page.other_tab_in_front()
        await page.until("document.visibilityState === 'hidden'", 10, "the tab hidden")
        medium = alert("chair-1", "hr.high", "medium", "HR 128 > 120 for 5 min")
        await pub.active("chair-1", [medium], sess)
        await page.until(f"{SOUND} === 'medium'", 10, "chair-1 sounding")
        await eventually_title(page, "MEDIUM chair-1 — monitord station")
        high = alert("chair-2", "spo2.very_low", "high", "SpO2 82 < 85")
        await pub.active("chair-2", [high], sess)
        await eventually_title(page, "HIGH chair-2 +1 — monitord station")
        # Both acknowledged (elsewhere): nothing to say, the plain title again.
        await pub.active("chair-2", [{**high, "ack": True, "by": "bob"}], sess)
        await eventually_title(page, "MEDIUM chair-1 — monitord station")
        await pub.active("chair-1", [{**medium, "ack": True, "by": "bob"}], sess)
        await eventually_title(page, "monitord station")
        # A chair lost with its session open: its technical alarm, named as in the bar.
        await pub.status("chair-2", "offline")
        await eventually_title(page, "OFFLINE chair-2 — monitord station")


async def eventually_title(page: Page, want: str, within_s: float = 10) -> None:
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + within_s
    while not seen or seen[-1] != want:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"tab title never {want!r} within {within_s} s: {seen[-1]!r}")
        if seen:
            await asyncio.sleep(0.05)
        seen.append(await tab_title(page))


async def test_a_background_tab_not_live_says_so_in_its_title(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, proc, url, b):
        page = await b.new_page()
        await login_page(page, url, "alice")
        sess = session("dosing", "esketamine", 10)
        high = alert("chair-1", "spo2.very_low", "high", "SpO2 82 < 85")
        await pub.chair("chair-1", [high], sess=sess)
        await eventually_title(page, "HIGH chair-1 — monitord station", 20)
        await page.other_tab_in_front()
        await page.until("document.visibilityState === 'hidden'", 10, "the tab hidden")
        proc.stop()  # the station gone: the board is not live
        await eventually_title(page, "NOT LIVE · HIGH chair-1 — monitord station", 20)
        await page.close()


async def test_a_technical_alarm_says_tech_in_the_title_as_in_the_bar(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A lost monitor is no patient's SpO2: the bar and the tile tag it HIGH TECH, and the
    title, "the alarm bar's first chair in its words", says so too. Before, the title read
    "HIGH chair-2" for a monitor lost as for a patient desaturating."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        lost = alert("chair-2", "tech.device_lost", "high", "monitor lost", kind="technical")
        await pub.chair("chair-2", [lost], sess=sess)
        await page.until("!!document.querySelector('#alarm-bar a.sum')", 20, "the bar")
        bar = await page.js("document.querySelector('#alarm-bar a.sum .tag').textContent")
        assert bar == "HIGH TECH"
        await eventually_title(page, "HIGH TECH chair-2 — monitord station")
        # A patient's alarm on another chair, lower: after it, as in the bar.
        hr = alert("chair-1", "hr.high", "medium", "HR 128 > 120 for 5 min")
        await pub.chair("chair-1", [hr], sess=sess)
        await eventually_title(page, "HIGH TECH chair-2 +1 — monitord station")
        await pub.active("chair-2", [], sess)
        await eventually_title(page, "MEDIUM chair-1 — monitord station")
