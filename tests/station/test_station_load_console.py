"""The station page loads without an uncaught exception when its window changes size while
it loads (a wallboard's kiosk browser maximised at its start, a tablet turned): the alarm
bar's fit (view.js fitNow) is asked for by the resize and runs at the next frame, and the
browser paints frames between one deferred script and the next. Before, fitNow took `$`
from station.js, not yet run then: `ReferenceError: $ is not defined`, on the console of
many a page load (seen on the a11y round's tests). No fit was lost (the bar is hidden
until station.js shows and fits it), but an uncaught error at every load hides a real
one from whoever reads the console. station.js is held on its way by the browser itself
(DevTools `Fetch`) so the frame between comes every time. Real station, mosquitto,
headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

FRAMES = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


async def test_a_resize_while_the_page_loads_throws_nothing(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("c-1", "spo2.low", "high", "SpO2 86 < 90 for 15 s")
        await pub.chair("c-1", [a], sess=session("dosing", "esketamine", 10))
        await page.until(f"!!{tile('c-1')}", 20, "tile")
        held: list[str] = []

        def paused(p: dict[str, Any]) -> None:
            held.append(p["requestId"])

        page.on["Fetch.requestPaused"] = paused
        await page.send("Fetch.enable", patterns=[{"urlPattern": "*/static/station.js*"}])
        page.console.clear()
        await page.send("Page.reload", ignoreCache=True)
        await eventually(lambda: bool(held), 10, "station.js on its way")
        # view.js has run (its fitBar is defined), station.js not yet.
        await page.until("typeof fitBar === 'function' && typeof render === 'undefined'", 10)
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1200, height=800, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        assert await page.until(FRAMES, 10, "two frames painted")
        for rid in held:
            await page.send("Fetch.continueRequest", requestId=rid)
        await page.send("Fetch.disable")
        page.on.pop("Fetch.requestPaused", None)
        # The page works on: the board back, the chair in the alarm bar.
        await page.until(f"!!{tile('c-1')}", 20, "tile after the reload")
        await page.until("!!document.querySelector('#alarm-bar .sum')", 10, "alarm bar")
        assert await page.until(FRAMES, 10, "two frames painted")
        errors = [m for m in page.console if m.startswith("EXCEPTION")]
        assert errors == [], errors
