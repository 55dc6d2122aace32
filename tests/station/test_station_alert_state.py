"""What a nurse reads on an alert line (docs/station.md "Tiles"): a latched alert whose
condition is over (`state: clear_pending`, docs/mqtt.md) says so, and what clears it; an
inhibited one says it is silent. Before, both read like an active alarm: a red, flashing
"BP 212/124 >= 180/110" beside a BP of 128/80, with nothing saying it was over and that
only an ACK ends it, and an inhibited alert listed with no word for why it was silent.
Each alert line says when it was raised, in the site's zone, and how long ago; before,
none did. The alarm bar marks a technical alarm TECH, as its tile does; before, "chair-2 HIGH
monitor lost" looked like a patient's alarm there."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import TZ, alert, session, station_page, tile

LINE = "{}.querySelector('.alert[data-rule=\"{}\"]')?.innerText"


async def test_latched_and_inhibited_alerts_say_so(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        latched = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110", ago_s=1500)
        inhibited = alert("chair-1", "bp.rise", "medium", "BP +32/+18", state="inhibited")
        await pub.chair("chair-1", [latched, inhibited], sess=session("dosing", "esketamine", 10))
        t = tile("chair-1")
        await page.until(f"{LINE.format(t, 'bp.crisis')}?.includes('212/124')", 20, "alert")
        assert "LATCHED" not in await page.js(LINE.format(t, "bp.crisis"))
        assert "INHIBITED" in await page.js(LINE.format(t, "bp.rise"))
        # When it was raised, in the site's zone, and how long ago.
        at = datetime.fromtimestamp(latched["raised_t"], ZoneInfo(TZ)).strftime("%H:%M %Z")
        line = await page.js(LINE.format(t, "bp.crisis"))
        assert re.search(rf"since {at} \(2[456] min\)", line), (at, line)
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
        # A technical alarm reads as one in the alarm bar too, as on its tile.
        lost = alert("chair-2", "tech.device_lost", "high", "monitor lost", kind="technical")
        await pub.chair("chair-2", [lost], sess=session("dosing", "esketamine", 10))
        bar = "document.querySelector('#alarm-bar a[data-chair=\"{}\"]')"
        await page.until(f"{bar.format('chair-2')}?.innerText.includes('TECH')", 10, "TECH")
        assert "technical" in await page.js(f"{bar.format('chair-2')}.className")
        assert "TECH" not in await page.js(f"{bar.format('chair-1')}.innerText")
        await page.screenshot(tmp_path / "latched.png")


async def test_old_refusal_leaves_the_tile(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A refusal of 20 minutes ago ("a session is already open" for the last patient) is
    not on the tile; one just now is. Before, the last refusal stayed for good."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        t = tile("chair-1")

        async def refusal(ago_s: float, error: str) -> None:
            body = {"time": iso(time.time() - ago_s), "topic": "x", "error": error}
            await pub.client.publish(pub.topic("chair-1", "cmd/errors"), json.dumps(body), 1)

        await refusal(1200, "a session is already open on chair-1")
        await page.until("chairs.get('chair-1')?.errors.length === 1", 20, "refusal received")
        assert await page.js(f"{t}.querySelector('.refusal')") is None
        await refusal(2, "dose_start outside baseline")
        await page.until(f"{t}.querySelector('.refusal')?.textContent", 10, "new refusal")
        text = await page.js(f"{t}.querySelector('.refusal').textContent")
        assert text.startswith("Refused at ") and "dose_start outside baseline" in text, text
