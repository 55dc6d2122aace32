"""What fitting the alarm bar (view.js fitBar: crowded or not) costs a busy board
(docs/station.md "Alarm bar"). The fit is a layout of the whole page (the bar measured
without `.crowded`). It ran at every redraw of the bar, and every message of every chair
redraws it: 32 chairs with readings each second were 32 forced layouts a second on the
clinic's tablet, where one a frame does, and the page's own redraw of every tile (every
TICK_MS, and at each hello) was 32 layouts in one task. Now the bar is fitted when it
changed (a link come, gone or changed; the screen, the top or the bar resized), once a
frame. Real station, real mosquitto, real headless Chromium (CDP's Performance metrics).
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import station_page, vitals
from tests.station.test_station_alarm_bar_crowded import in_alarm

CROWDED = "document.getElementById('alarm-bar').classList.contains('crowded')"


async def test_a_redraw_of_every_tile_is_not_a_layout_each(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1366, 768)) as (page, pub):
        ids = await in_alarm(pub, 32)
        await page.until("document.querySelectorAll('.tile').length === 32", 20, "tiles")
        await page.until(CROWDED, 10, "the bar crowded")
        await page.send("Performance.enable")

        async def layouts() -> float:
            r = await page.send("Performance.getMetrics")
            return float(next(m["value"] for m in r["metrics"] if m["name"] == "LayoutCount"))

        # The page's own redraw of every tile, in one task (station.js renderAll).
        before = await layouts()
        await page.js("renderAll(); true")
        after = await layouts()
        # The frame after it, and the clock's redraw each second, may each add one.
        assert after - before <= 3, f"{after - before:.0f} layouts for one redraw of 32 tiles"
        # A reading of each chair: the bar unchanged, and still fitted (crowded).
        for cid in ids:
            await pub.vitals(cid, {"hr": vitals(cid, 131, 84, 77, 97)["hr"]})
        await page.until(
            "[...document.querySelectorAll('.tile .vital .v')].filter((v) =>"
            " v.textContent === '77').length === 32", 10, "32 readings drawn",
        )  # fmt: skip
        assert await page.js(CROWDED)
        assert not [m for m in page.console if m.startswith("EXCEPTION")], page.console
