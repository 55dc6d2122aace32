"""The header clock is drawn as soon as the station's time is known (the page's first
hello), not only by the one-second timer: before, it was empty for up to a second after
the page loaded, and after a reconnect, on a board a nurse reads times against
(docs/station.md "The chair's clock"). Real station, real mosquitto, real headless
Chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import station_page

# Before the page's scripts run, on every document: the header clock's text at the moment
# the hello's site line is drawn (a mutation observer's callback runs right after the
# hello's handler, before any timer's turn).
AT_HELLO = (
    "window.__clockAtHello = null; new MutationObserver(() => {"
    " const s = document.getElementById('site');"
    " if (window.__clockAtHello === null && s && s.textContent)"
    "   window.__clockAtHello = document.getElementById('clock').textContent;"
    "}).observe(document, {subtree: true, childList: true, characterData: true});"
)


async def test_the_header_clock_is_drawn_with_the_first_hello(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, _pub):
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=AT_HELLO)
        await page.goto(await page.js("location.href"))  # logged in: the board at once
        at_hello = await page.until("window.__clockAtHello !== null && [window.__clockAtHello]")
        assert re.fullmatch(r"\d\d:\d\d \S+", at_hello[0]), at_hello
        await page.screenshot(tmp_path / "header.png")
