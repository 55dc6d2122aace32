"""Many chairs on a small screen (docs/station.md "Alarm bar"): an alarm on a tile below
the fold is named on screen, in its colour, highest first, and one tap brings its tile
into view; tiles come in natural order (chair-2 before chair-10). Before, twelve chairs
on a 1366x768 laptop left chair-8's high alarm as a sound with nothing on screen."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

IN_VIEW = (
    "(() => {{ const r = {}.getBoundingClientRect();"
    " return r.bottom > 0 && r.top < innerHeight; }})()"
)


async def test_alarm_bar_names_offscreen_alarms_highest_first(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1366, 768)) as (page, pub):
        for i in range(1, 13):
            c = f"chair-{i}"
            alerts = {
                10: [alert(c, "spo2.low", "medium", "SpO2 88 < 90 for 15 s")],
                11: [alert(c, "spo2.very_low", "high", "SpO2 81 < 85 for 10 s")],
                12: [alert(c, "bp.crisis", "high", "BP 212/124", ack=True, by="bob")],
            }.get(i, [])
            await pub.chair(c, alerts, sess=session("dosing", "esketamine", 10))
        await page.until("document.querySelectorAll('.tile').length === 12", 20, "tiles")
        order = await page.js("[...document.querySelectorAll('.tile')].map(t => t.dataset.chair)")
        assert order == [f"chair-{i}" for i in range(1, 13)], order
        await page.until("window.__monitordAudio.current?.priority === 'high'", 10, "high")
        await page.js("window.scrollTo(0, 0); true")
        await page.screenshot(tmp_path / "laptop_12_chairs.png")
        assert not await page.js(IN_VIEW.format(tile("chair-11")))  # below the fold
        bar = "document.getElementById('alarm-bar')"
        assert await page.js(IN_VIEW.format(bar))
        items = await page.js(
            f"[...{bar}.querySelectorAll('a')].map(a => [a.dataset.chair, a.className])"
        )
        # chair-12's high is acknowledged: not listed.
        assert [c for c, _ in items] == ["chair-11", "chair-10"], items
        assert "p-high" in items[0][1] and "p-medium" in items[1][1], items
        await page.tap("#alarm-bar a[data-chair='chair-11']")
        await page.until(IN_VIEW.format(tile("chair-11")), 5, "chair-11 in view")
        await page.screenshot(tmp_path / "after_tap.png")
        # Still on screen after scrolling down: the bar stays under the header.
        assert await page.js(IN_VIEW.format(bar))
