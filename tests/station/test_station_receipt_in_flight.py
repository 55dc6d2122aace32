"""A receipt still on its way when its alarm's tone starts is followed by the sounded one
(docs/station.md "MQTT": again when the page's tone for it started later). Before, the
page skipped an alarm whose receipt was in flight (`busy`) when the tone started, and the
receipt came back recorded silent: `sounded: true` waited for that chair's next message,
which a chair with no streaming reading may not send for minutes. The receipt is held on
its way by the browser itself (DevTools `Fetch`), real station, real mosquitto, real
headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page

SOUND = "window.__monitordAudio.current?.priority ?? null"


async def test_a_receipt_in_flight_when_its_tone_starts_is_sent_again_sounded(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        held: list[str] = []
        release = False
        sent: list[asyncio.Task[Any]] = []

        def paused(p: dict[str, Any]) -> None:
            if release:
                sent.append(
                    asyncio.create_task(
                        page.send("Fetch.continueRequest", requestId=p["requestId"])
                    )
                )
            else:
                held.append(p["requestId"])

        page.on["Fetch.requestPaused"] = paused
        try:
            sess = session("dosing", "esketamine", 10)
            loud = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
            medium = alert("chair-2", "hr.high", "medium", "HR 128 > 120 for 5 min")
            await pub.chair("chair-1", [loud], sess=sess)
            await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
            await eventually(
                lambda: (loud["alert_id"], "raised", 0) in got, 10, "chair-1's receipt"
            )
            # From here the page's receipts are held on their way, as on a slow network.
            await page.send("Fetch.enable", patterns=[{"urlPattern": "*/api/receipt*"}])
            await pub.chair("chair-2", [medium], sess=sess)
            await eventually(lambda: bool(held), 10, "chair-2's receipt on its way")
            # chair-1 acknowledged while it is: chair-2's tone starts (a message of chair-1 only).
            await pub.active("chair-1", [{**loud, "ack": True, "by": "alice"}], sess)
            await page.until(f"{SOUND} === 'medium'", 10, "chair-2 sounding")
            # Two frames: the tone's own ask (audio.js play) has run and met it on its way.
            frame = "requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0)))"
            await page.js(f"new Promise((r) => {frame})")
            release = True
            for rid in held:
                await page.send("Fetch.continueRequest", requestId=rid)
            key = (medium["alert_id"], "raised", 0)
            await eventually(
                lambda: got.get(key) == [False, True],
                10,
                "the sounded receipt after the silent one",
            )
            await asyncio.gather(*sent)
        finally:
            page.on.pop("Fetch.requestPaused", None)
