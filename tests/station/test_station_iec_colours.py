"""The alarm colours of IEC 60601-1-8 on the board (issue 17: "active alerts sorted by priority
with IEC 60601-1-8 colours (high red and flashing, medium yellow, low cyan)"; docs/station.md
"Tiles"): each alert row's colour and each tile's border, read as the browser paints them, by
hue. The contrast and forced-colours tests read what is written on these colours, not which
colour they are: a medium turned orange (#f28c00, which a nurse reads as a higher priority
than yellow) passed them. Real station, real mosquitto, real headless Chromium."""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile

# Hue ranges (degrees) of the standard's colour names: red, yellow (not orange), cyan.
HUES = {"high": [(0, 10), (350, 360)], "medium": [(45, 65)], "low": [(175, 200)]}


def hue(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


async def test_alarm_colours_are_the_standards(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        chairs = {"high": "chair-1", "medium": "chair-2", "low": "chair-3"}
        for prio, chair in chairs.items():
            await pub.chair(chair, [alert(chair, "bp.crisis", prio, f"a {prio} alarm")])
        for prio, chair in chairs.items():
            await page.until(f"{tile(chair)}?.className.includes('p-{prio}')", 20, chair)
            row = await page.js(
                f"getComputedStyle({tile(chair)}.querySelector('.alert')).backgroundColor"
            )
            border = await page.js(f"getComputedStyle({tile(chair)}).borderTopColor")
            for what, css in (("alert row", row), ("tile border", border)):
                h = hue(css)
                assert any(lo <= h <= hi for lo, hi in HUES[prio]), (prio, what, css, h)
