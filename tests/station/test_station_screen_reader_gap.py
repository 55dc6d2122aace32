"""The NOT LIVE banner of each outage is said (docs/station.md "Keyboard and screen reader"):
the board live again says for how long it was not ("NOT LIVE from 14:02 to 14:03 (40 s):
alarms raised and cleared in that time were not shown or sounded here"). The banner stays
until a nurse taps Seen; a second outage ending before that rewrites its words in place.
Before, a screen reader was told of a banner only as it came up: the second outage's
NOT LIVE was never said (its STALE was, at its start), a nurse with low vision not told
that alarms may have come and gone unseen a second time. Real station, real mosquitto
(stopped and started), real headless Chromium; read from the page's live regions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import station_page

SAID = "window.__monitordSaid.map((s) => s.text).filter((t) => t.startsWith('{}')).length"
LIVE = "!document.body.classList.contains('stale')"
# Back live: "NOT LIVE from ... to ... (N s)", or "NOT LIVE for under a second at ..." (the
# station back on the broker at once, as here often).
NOT_LIVE = "window.__monitordSaid.filter((s) => /^NOT LIVE (from|for) /.test(s.text)).length"


async def outage(page: Page, mosquitto: Mosquitto) -> None:
    await asyncio.to_thread(mosquitto.stop)
    try:
        await page.until("document.body.classList.contains('stale')", 15, "stale")
    finally:
        await asyncio.to_thread(mosquitto.start)
    await page.until(LIVE, 30, "live again")


async def test_each_outage_s_not_live_is_said(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    # Each stale time's end is said: as many NOT LIVE as STALE once live. (Counted so, not
    # as "1, then 2": on a loaded machine the station's first message after the broker's
    # restart can come late enough for a second stale time in one outage, each said: a CI
    # run beside four helpers read the count "=== 1" never.)
    each_said = f"{LIVE} && {NOT_LIVE} >= 1 && {NOT_LIVE} === {SAID.format('STALE')}"
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, _pub):
        await outage(page, mosquitto)
        await page.until(each_said, 10, "the first outage's NOT LIVE said")
        first = await page.js(NOT_LIVE)
        assert await page.js("!document.getElementById('gap-banner').hidden")  # nobody tapped Seen
        await outage(page, mosquitto)
        await page.until(f"{SAID.format('STALE')} > {first}", 10, "the second STALE said")
        await page.until(f"{each_said} && {NOT_LIVE} > {first}", 10, "the second NOT LIVE said")
        said = await page.js(NOT_LIVE)
        # Said as it is now, once: not again at the page's next ticks.
        await page.js("new Promise((r) => setTimeout(() => r(true), 1500))")
        assert await page.js(NOT_LIVE) == said
