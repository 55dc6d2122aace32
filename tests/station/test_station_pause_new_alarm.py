"""Audio pause on a board of many chairs (docs/station.md "Sound"): the pause silences the
alarms sounding when the nurse tapped it, not the ones raised after. Before, one pause for
chair-1's alarm silenced everything for 2 min: chair-2's new high alarm raised during it
was on screen but made no sound, on a wallboard the nurse may not be looking at; so was a
chair lost in mid-session (its technical tone)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page

SOUND = "window.__monitordAudio.current?.priority"


async def test_new_alarm_during_audio_pause_sounds(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        first = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [first], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
        await page.tap("#pause")
        await page.until("window.__monitordAudio.paused === true", 5, "paused")
        assert await page.js("window.__monitordAudio.current") is None
        # The paused alarm escalating (same alert, same priority) keeps the pause.
        await pub.event("chair-1", first, "escalated", level=1)
        await pub.active("chair-1", [{**first, "level": 1}], sess)
        await page.until(
            "document.querySelector('.tile[data-chair=\"chair-1\"] .alert')?.dataset.alertId"
            f" === {first['alert_id']!r} && window.__monitordShown.length >= 1",
            10,
            "escalation shown",
        )
        assert await page.js("window.__monitordAudio.paused") is True
        assert await page.js("window.__monitordAudio.current") is None
        # A medium alarm at chair-2, raised during the pause: a new alarm, it sounds.
        new = alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90 for 15 s", ago_s=0)
        await pub.event("chair-2", new, "raised")
        await pub.active("chair-2", [new], sess)
        await page.until(f"{SOUND} === 'high'", 10, "pause ended by chair-2's new alarm")
        assert await page.js("window.__monitordAudio.paused") is False
        assert await page.js("document.getElementById('paused-banner').hidden") is True
        # Paused again, with both sounding: both stay silent for the pause.
        await page.tap("#pause")
        await page.until("window.__monitordAudio.paused === true", 5, "paused again")
        assert await page.js("window.__monitordAudio.current") is None
        # Until chair-3, in session and silent, is lost (its Last Will): that ends it too.
        await pub.chair("chair-3", [], sess=sess)
        await page.until("chairs.get('chair-3')?.online === true", 10, "chair-3 online")
        assert await page.js("window.__monitordAudio.paused") is True
        await pub.status("chair-3", "offline", time.time() - 600)
        await page.until(f"{SOUND} === 'high'", 10, "pause ended by chair-3 lost")
        assert await page.js("window.__monitordAudio.paused") is False
