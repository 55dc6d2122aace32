"""What a chair lost sounds, and what the page receipts of an escalation (docs/station.md
"Offline chairs", "Sound", "MQTT"; docs/mqtt.md "alerts/receipts"). Real station, real
mosquitto, real headless Chromium.

- "A chair that goes offline with a session open or any active alert also sounds the
  technical tone; one going offline without either (the end of the day) is shown, silent."
  The offline tests lose chairs in a session: with the "any active alert" half gone (a chair
  outside a session, with an alert, lost in silence) the suite passed. Nor did they read the
  lost chair's badge in words: one reading ONLINE beside its OFFLINE banner passed them.
- A receipt names the escalation shown, `level` (docs/mqtt.md: the daemon matches a receipt
  to that very event). tests/station/test_station_receipt_level.py posts the page's receipts
  itself; with the page sending `level: null` for a live `escalated` the suite passed."""

from __future__ import annotations

from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

SOUND = "window.__monitordAudio.current?.priority"


async def test_a_chair_lost_with_an_alert_and_no_session_sounds(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        idle = session("idle", "", None)
        # A low alert only: nothing sounds while the chair is online (its two pulses once).
        await pub.chair(
            "chair-1", [alert("chair-1", "bp.rise", "low", "BP over baseline")], sess=idle
        )
        await pub.chair("chair-2", [], sess=idle)
        await page.until(f"{tile('chair-2')}?.innerText.includes('ONLINE')", 20, "both tiles")
        assert await page.js(SOUND) is None
        # The end of the day: chair-2, idle, nothing active, goes offline: shown, silent.
        await pub.status("chair-2", "offline")
        await page.until(f"{tile('chair-2')}.classList.contains('offline')", 10, "chair-2 off")
        assert await page.js(SOUND) is None
        # Its badge reads OFFLINE in words, not only in its class (the offline tests read the
        # class: a badge still saying ONLINE beside the OFFLINE banner passed them).
        assert await page.js(f"{tile('chair-2')}.querySelector('.state').textContent") == "OFFLINE"
        # chair-1, its alert active, is lost: the technical tone.
        await pub.status("chair-1", "offline")
        await page.until(f"{SOUND} === 'technical'", 10, "chair-1 lost sounds")


async def test_an_escalation_is_receipted_with_its_level(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        await page.until(f"{SOUND} === 'high'", 20, "the high tone")
        await pub.event("chair-1", a, "escalated", level=2)
        await pub.active("chair-1", [{**a, "level": 2}], session("dosing", "esketamine", 10))
        await page.until(f"{tile('chair-1')}?.innerText.includes('212/124')", 10, "drawn")
        # The live event's receipt, and the set's, name level 2; none goes out without it.
        await page.until(
            "window.__monitordShown.some((e) => e.event === 'escalated')", 10, "event shown"
        )
        await eventually(lambda: (a["alert_id"], "escalated", 2) in got, 20, "level 2 receipt")
        escalated = [k for k in got if k[1] == "escalated"]
        assert escalated == [(a["alert_id"], "escalated", 2)], got
