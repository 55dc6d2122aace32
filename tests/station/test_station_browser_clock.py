"""A wallboard whose own clock is off (a kiosk PC without NTP): the tile's durations are
counted on the station's clock, not the browser's (docs/station.md "The chair's clock").
Before, the page counted on its browser's clock: 15 min ahead, a reading measured now
read "15 min ago", the dose 15 min older and the observation time met 15 min early (the
chair's clock behind the page's cannot be told from its messages, so the page took it as
its own); 15 min behind, the same readings read "15 min ago" too (an age is shown
unsigned) and the dose 15 min younger. The browser's clock is set off before the page's
scripts run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.servers import Mosquitto
from tests.station.station_kit import (
    login_page,
    session,
    station_and_browser,
    tile,
    vitals,
)


@pytest.mark.parametrize("off_min", [15, -15], ids=["browser-ahead", "browser-behind"])
async def test_durations_count_on_the_station_clock_when_the_browser_is_15_min_off(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, off_min: int
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        await pub.status("chair-1", "online")
        # Dose 30 min ago: the set last changed then; the readings are measured now.
        await pub.active("chair-1", [], session("dosing", "esketamine", 30), t=time.time() - 1800)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98))
        page = await b.new_page()
        await page.send(
            "Page.addScriptToEvaluateOnNewDocument",
            source="(() => { const real = Date.now.bind(Date);"
            f" Date.now = () => real() + {off_min * 60000}; }})()",
        )
        await login_page(page, url)
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "tile")
        await page.screenshot(tmp_path / "browser_ahead.png")
        text = await page.js(f"{tile('chair-1')}.innerText")
        assert "dose +30 min" in text, text
        assert "observation met in 90 min" in text, text
        ages = await page.js(
            f"[...{tile('chair-1')}.querySelectorAll('.vital .age')].map((e) => e.innerText)"
        )
        assert ages == ["0 min ago"] * 3, ages
        await page.close()
