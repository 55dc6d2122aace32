"""The low-priority tone (docs/station.md "Sound"): "low = 2 pulses of 250 ms, 440 Hz,
once per new alert", and "one pattern sounds at a time". Real station, real mosquitto,
real headless Chromium; what the page scheduled is read from its test hook
(`window.__monitordAudio.log`: each burst as it was scheduled).

A low alert sounds once when it is new: not again at each redraw of its tile (every
message of its chair), not repeating; a second low alert sounds once more; and while a
high alarm sounds, a new low alert adds no burst of its own to the high pattern."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile, vitals

LOWS = "window.__monitordAudio.log.filter((b) => b.priority === 'low')"


def shown_hr(chair: str, hr: int) -> str:
    """A JS expression: the chair's tile shows this HR (its message is drawn)."""
    return f"{tile(chair)}.querySelector('.vitals').innerText.includes('{hr}')"


async def test_a_low_alert_sounds_two_pulses_once(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        first = alert("chair-1", "bp.rise", "low", "BP 168/100 over baseline", ago_s=20)
        await pub.chair("chair-1", [first])
        await page.until(f"{LOWS}.length === 1", 20, "the low alert's two pulses")
        burst = (await page.js(LOWS))[0]
        assert burst["pulses"] == 2 and burst["freq"] == 440, burst
        assert burst["repeat_s"] is None, burst
        assert await page.js("window.__monitordAudio.current") is None  # nothing repeats
        # Its chair's messages redraw the tile: the low alert is no new alert.
        for hr in (81, 82, 83):
            await pub.vitals("chair-1", vitals("chair-1", 124, 78, hr, 98))
            await pub.active("chair-1", [first])
            await page.until(shown_hr("chair-1", hr), 10, f"HR {hr} drawn")
        assert len(await page.js(LOWS)) == 1, await page.js(LOWS)
        # A second low alert is new: two pulses once more.
        second = alert("chair-1", "tech.bp_overdue", "low", "No valid BP", kind="technical")
        await pub.active("chair-1", [first, second])
        await page.until(f"{LOWS}.length === 2", 10, "the second low alert's pulses")
        # A high alarm sounds; a low alert new meanwhile adds nothing to its pattern.
        await pub.chair("chair-2", [alert("chair-2", "bp.crisis", "high", "BP 212/124")])
        await page.until("window.__monitordAudio.current?.priority === 'high'", 10, "high")
        third = alert("chair-3", "bp.rise", "low", "BP 170/102 over baseline")
        await pub.chair("chair-3", [third])
        await page.until(f"{tile('chair-3')}.className.includes('p-low')", 10, "chair-3")
        await pub.vitals("chair-3", vitals("chair-3", 124, 78, 84, 98))
        await page.until(shown_hr("chair-3", 84), 10, "chair-3 drawn again")
        assert len(await page.js(LOWS)) == 2, await page.js(LOWS)
        assert (await page.js("window.__monitordAudio.current"))["priority"] == "high"
