"""The alarm signal on a screen with forced colours (Windows High Contrast, a nurse's
eyesight) and with the browser's "reduce motion" (docs/station.md "Forced colours, reduced
motion"). Forced colours repaint every background and border in the user's few system
colours: a high, a medium and a low alarm's tile, alarm-bar link and alert row all came out
white with a black border, told apart by the word of the tag alone, and the flashing (a
change of background) stopped: the IEC 60601-1-8 priority signal was gone. Now the alarm's
own parts keep their IEC colours and their flashing; and "reduce motion" never stops the
flashing, which is the alarm signal, not decoration. Real station, real mosquitto, real
headless Chromium with the media features emulated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import ChairPublisher, alert, session, station_page, vitals

CHAIRS = {"c-high": "high", "c-medium": "medium", "c-low": "low"}
FORCED = [{"name": "forced-colors", "value": "active"}]
REDUCED = [{"name": "prefers-reduced-motion", "value": "reduce"}]


async def in_alarm(pub: ChairPublisher) -> None:
    for cid, prio in CHAIRS.items():
        await pub.status(cid, "online")
        await pub.vitals(cid, vitals(cid, 131, 84, 71, 97, 5))
        a = alert(cid, "spo2.low", prio, f"SpO2 86 < 90 for 15 s ({prio})")
        await pub.active(cid, [a], session("dosing", "esketamine", 20))
    # A technical alarm: its dashed border is its sign, whatever the colours.
    tech = alert("c-tech", "spo2.probe_off", "medium", "SpO2 probe off", kind="technical")
    await pub.status("c-tech", "online")
    await pub.active("c-tech", [tech], session("dosing", "esketamine", 20))


async def styles(page: Page, selector: str, props: list[str]) -> Any:
    return await page.js(
        f"[...document.querySelectorAll({json.dumps(selector)})].map((e) => {{"
        " const s = getComputedStyle(e);"
        f" return {json.dumps(props)}.map((p) => s.getPropertyValue(p)); }})"
    )


# The backgrounds one element takes over the frames, gathered until it has shown two:
# a flash seen in the computed style, not in a duration.
FLASH = """(() => {{
  const e = document.querySelector({sel});
  const seen = (window.__seen = window.__seen || {{}});
  const key = {sel};
  if (!(key in seen)) {{
    seen[key] = new Set();
    const look = () => {{
      seen[key].add(getComputedStyle(document.querySelector(key)).backgroundColor);
      requestAnimationFrame(look);
    }};
    look();
  }}
  return e && seen[key].size >= 2;
}})()"""


async def flashes(page: Page, selector: str) -> None:
    await page.until(FLASH.format(sel=json.dumps(selector)), 8, f"{selector} flashing")


@pytest.mark.parametrize("media", ["forced-colors", "prefers-reduced-motion"])
async def test_priorities_stay_distinct_and_high_and_medium_flash(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, media: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1366, 768)) as (page, pub):
        features = FORCED if media == "forced-colors" else REDUCED
        await page.send("Emulation.setEmulatedMedia", features=features)
        query = f"({features[0]['name']}: {features[0]['value']})"
        assert await page.js(f"matchMedia('{query}').matches"), query
        await in_alarm(pub)
        await page.until("document.querySelectorAll('#alarm-bar a').length === 4", 20, "links")
        await page.screenshot(tmp_path / f"{media}.png")
        # Each priority its own colour: the tile's border, the link's and the alert
        # row's background (a steady low shows it in any frame).
        borders = [
            await styles(page, f".tile.p-{p}", ["border-top-color"]) for p in CHAIRS.values()
        ]
        assert len({b[0][0] for b in borders}) == 3, borders
        for part in ("#alarm-bar a.p-{}:not(.technical)", ".alert.{}.physiological"):
            low = await styles(page, part.format("low"), ["background-color"])
            high = await styles(page, part.format("high"), ["background-color", "color"])
            assert low[0][0] != high[0][0], (part, low, high)
            assert high[0][0] != high[0][1], (part, high)  # its words on it, not lost
        # The technical alarm's dashed border stays its sign.
        tech = await styles(page, "#alarm-bar a.technical, .alert.technical", ["border-top-style"])
        assert [t[0] for t in tech] == ["dashed", "dashed"], tech
        # High and medium flash: the tile and its link each show two backgrounds.
        for p in ("high", "medium"):
            await flashes(page, f".tile.p-{p}.flash")
            await flashes(page, f"#alarm-bar a.p-{p}.flash:not(.technical)")
        # The medium and high flashing halves differ from each other too.
        medium = await styles(page, ".alert.medium.physiological", ["background-color"])
        high = await styles(page, ".alert.high", ["background-color"])
        assert medium[0][0] != high[0][0], (medium, high)
