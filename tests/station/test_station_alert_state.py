"""What a nurse reads on an alert line (docs/station.md "Tiles"): a latched alert whose
condition is over (`state: clear_pending`, docs/mqtt.md) says so, and what clears it; an
inhibited one says it is silent. Before, both read like an active alarm: a red, flashing
"BP 212/124 >= 180/110" beside a BP of 128/80, with nothing saying it was over and that
only an ACK ends it, and an inhibited alert listed with no word for why it was silent."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

LINE = "{}.querySelector('.alert[data-rule=\"{}\"]')?.innerText"


async def test_latched_and_inhibited_alerts_say_so(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        latched = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        inhibited = alert("chair-1", "bp.rise", "medium", "BP +32/+18", state="inhibited")
        await pub.chair("chair-1", [latched, inhibited], sess=session("dosing", "esketamine", 10))
        t = tile("chair-1")
        await page.until(f"{LINE.format(t, 'bp.crisis')}?.includes('212/124')", 20, "alert")
        assert "LATCHED" not in await page.js(LINE.format(t, "bp.crisis"))
        assert "INHIBITED" in await page.js(LINE.format(t, "bp.rise"))
        # The BP came back down: the daemon holds the latched alert until acknowledged.
        await pub.active(
            "chair-1",
            [{**latched, "state": "clear_pending"}, inhibited],
            session("dosing", "esketamine", 10),
        )
        await page.until(f"{LINE.format(t, 'bp.crisis')}.includes('LATCHED')", 10, "latched")
        text = await page.js(LINE.format(t, "bp.crisis"))
        assert "condition over, ACK clears it" in text, text
        # Still the alarm it was: red, flashing, sounding, until acknowledged.
        assert "flash" in await page.js(f"{t}.className")
        assert await page.js("window.__monitordAudio.current?.priority") == "high"
        await page.screenshot(tmp_path / "latched.png")
