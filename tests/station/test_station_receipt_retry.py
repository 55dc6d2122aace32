"""A receipt the page could not send is tried again on its own, backing off, until the
station answers (docs/station.md "MQTT"). Before, it was tried again only at its chair's
next message: the daemon, hearing no receipt within `receipt_timeout_s` (15 s), raised
`delivery.unheard` ("alarm not received by any station", high while a high alarm is
active, its annunciator sounding at the chair) for an alarm the nurses were shown and
heard, and only that new alarm's own message made the page try again. A chair with no
streaming reading sends nothing else for minutes. The page's requests fail in the
browser itself (DevTools `Fetch`: the station not answering, then refusing); real
station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page


async def test_a_failed_receipt_is_sent_again_without_a_new_chair_message(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        tries: list[str] = []

        async def paused(p: dict[str, Any]) -> None:
            tries.append(p["requestId"])
            rid = p["requestId"]
            if len(tries) == 1:  # the station does not answer
                await page.send("Fetch.failRequest", requestId=rid, errorReason="ConnectionRefused")
            elif len(tries) == 2:  # the station answers that it could not publish
                body = '{"error": "not sent: the broker is not connected"}'
                await page.send(
                    "Fetch.fulfillRequest", requestId=rid, responseCode=503,
                    responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
                    body=base64.b64encode(body.encode()).decode(),
                )  # fmt: skip
            else:
                await page.send("Fetch.continueRequest", requestId=rid)

        tasks: list[asyncio.Task[None]] = []
        page.on["Fetch.requestPaused"] = lambda p: tasks.append(asyncio.create_task(paused(p)))
        try:
            await page.send("Fetch.enable", patterns=[{"urlPattern": "*/api/receipt*"}])
            loud = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
            # One chair, its last message: nothing more comes from it (no streaming device).
            await pub.chair("chair-1", [loud], sess=session("dosing", "esketamine", 10))
            await page.until("window.__monitordAudio.current?.priority === 'high'", 20, "sounding")
            key = (loud["alert_id"], "raised", 0)
            await eventually(lambda: key in got, 30, "the receipt, sent again after two failures")
            assert len(tries) >= 3, tries
            assert got[key] == [True]
        finally:
            page.on.pop("Fetch.requestPaused", None)
            for t in tasks:
                await t
