"""An ACK's "sent" waits ACK_ANSWER_MS (15 s) for the daemon's answer on the page's
monotonic clock (docs/station.md "ACK"), not the browser's wall clock. Before, a wall
clock stepped back (an NTP correction on the wallboard PC) kept "sent" on an ACK nobody
answered for as long as the step, never "no answer, retry"; stepped forward, it said "no
answer" at once. Real station, real mosquitto, real headless Chromium; no daemon answers.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile, vitals


async def test_ack_answer_wait_is_on_the_monotonic_clock(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK'", 20, "ACK button")
        await page.tap(".tile[data-chair='chair-1'] button.ack")
        await page.until(f"{button}.textContent === 'sent'", 10, "sent")
        # The wallboard's clock steps 20 s forward; the tile is redrawn (a reading).
        await page.js(
            "(() => { const real = Date.now.bind(Date); Date.now = () => real() + 20000;"
            " return true; })()"
        )
        await pub.vitals("chair-1", vitals("chair-1", 126, 80, 74, 97))
        await page.until(f"{tile('chair-1')}.innerText.includes('126/80')", 10, "redrawn")
        assert await page.js(f"{button}.textContent") == "sent"
