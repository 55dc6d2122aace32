"""A page's receipt says `sounded: true` only when the alert it answers sounds on that page
(docs/station.md "MQTT"): unacknowledged, not inhibited, its priority's tone playing,
audio armed and not paused. The daemon takes a receipt as a nurse shown (and, sounded,
hearing) the alarm. Before, a live event's `sounded` asked only whether a tone of the
event's priority was playing: another chair's alarm of that priority made an
acknowledged or inhibited alert, silent on this board, read as heard. Real station, real
mosquitto, real headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import SITE, alert, session, station_page

SOUND = "window.__monitordAudio.current?.priority ?? null"


async def test_receipt_sounded_is_the_alert_s_own(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    got: dict[tuple[str, str, int | None], list[bool]] = {}
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.client.subscribe(f"{mqtt_prefix}/{SITE}/+/alerts/receipts", qos=1)

        async def read() -> None:
            async for msg in pub.client.messages:
                if msg.topic.matches(f"{mqtt_prefix}/{SITE}/+/alerts/receipts"):
                    assert isinstance(msg.payload, bytes)
                    r = json.loads(msg.payload)
                    key = (r["alert_id"], r["event"], r["level"])
                    got.setdefault(key, []).append(r["sounded"])

        async def sounded(a: dict[str, Any], event: str, level: int | None) -> list[bool]:
            """The `sounded` of the receipts of one event (each case a new event: a
            receipt of the set before it cannot answer)."""
            key = (a["alert_id"], event, level)
            await eventually(lambda: key in got, 10, f"receipt of {key}")
            return got[key]

        reader = asyncio.create_task(read())
        try:
            sess = session("dosing", "esketamine", 10)
            loud = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
            acked = alert("chair-2", "spo2.very_low", "high", "SpO2 82 < 85", ack=True, by="bob")
            inhib = alert("chair-2", "spo2.low", "medium", "SpO2 84 < 90", state="inhibited")
            medium = alert("chair-3", "hr.high", "medium", "HR 128 > 120 for 5 min")
            await pub.chair("chair-1", [loud], sess=sess)
            await pub.chair("chair-2", [acked, inhib], sess=sess)
            await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
            # chair-1's own escalation: it sounds (the test can tell true from false).
            await pub.event("chair-1", loud, "escalated", level=1)
            assert await sounded(loud, "escalated", 1) == [True]
            # chair-2's acknowledged alert escalating (its event crossed the ACK at the
            # daemon): on screen, silent here; the high tone is chair-1's.
            await pub.event("chair-2", acked, "escalated", level=1)
            assert await sounded(acked, "escalated", 1) == [False]
            # chair-1 acknowledged, chair-3's medium sounds: chair-2's inhibited medium
            # (an escalation of it re-sent after a reconnect, when the set inhibiting it
            # had come) is silent here, whatever tone of its priority plays.
            await pub.active("chair-1", [{**loud, "ack": True, "by": "alice"}], sess)
            await pub.chair("chair-3", [medium], sess=sess)
            await page.until(f"{SOUND} === 'medium'", 10, "chair-3 sounding")
            await pub.event("chair-2", inhib, "escalated", level=1)
            assert await sounded(inhib, "escalated", 1) == [False]
            await pub.event("chair-3", medium, "escalated", level=1)
            assert await sounded(medium, "escalated", 1) == [True]
            # Audio paused: chair-3's escalation (the paused alarm) is not heard.
            await page.tap("#pause")
            await page.until("window.__monitordAudio.paused === true", 5, "paused")
            await pub.event("chair-3", medium, "escalated", level=2)
            assert await sounded(medium, "escalated", 2) == [False]
            # Audio not running (suspended: as before a tap unlocked it): not heard.
            await page.tap("#resume")
            await page.until(f"{SOUND} === 'medium'", 5, "pause over")
            await page.js("audio.ctx.suspend().then(() => 1)")
            await page.until("!window.__monitordAudio.armed", 5, "audio suspended")
            await pub.event("chair-3", medium, "escalated", level=3)
            assert await sounded(medium, "escalated", 3) == [False]
            await page.screenshot(tmp_path / "receipts.png")
        finally:
            reader.cancel()
