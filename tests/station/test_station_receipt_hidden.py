"""A page in a background tab (the EHR in front, the window minimised, a tablet's screen
off) shows nobody an alarm drawn there: it sends no receipt for it until it is in view
(docs/station.md "MQTT"), and the daemon's `delivery.unheard` stands meanwhile. Before,
the page's receipts waited for a frame (none comes to a hidden tab) only on some paths:
a receipt retried on its timer (the station had answered 503: no broker) also receipted
every alarm of its chair drawn since that the page learnt from the chair's set alone (the
station back on the broker replays the retained sets: an alarm raised meanwhile comes
with no event), also one drawn while the tab was hidden, and the daemon took a new HIGH
alarm for seen, and heard, with nobody looking at the board. Real station, real
mosquitto, real headless Chromium with a second tab brought to the front; the station's
503 is the browser's own (DevTools `Fetch`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import alert, session, station_page

SOUND = "window.__monitordAudio.current?.priority ?? null"


async def bring_to_front(page: Page) -> None:
    """The tab brought to the front, as a click on it in the tab strip: the other goes to
    the background (its document hidden, no frames)."""
    await page.send("Target.activateTarget", targetId=page.target_id)


async def test_an_alarm_drawn_in_a_hidden_tab_is_receipted_only_once_in_view(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        held: list[str] = []
        first = True
        answers: list[asyncio.Task[Any]] = []

        def paused(p: dict[str, Any]) -> None:
            nonlocal first
            if first:  # the first receipt: its 503 is held until the tab is hidden
                first = False
                held.append(p["requestId"])
            else:
                answers.append(
                    asyncio.create_task(
                        page.send("Fetch.continueRequest", requestId=p["requestId"])
                    )
                )

        page.on["Fetch.requestPaused"] = paused
        await page.send("Fetch.enable", patterns=[{"urlPattern": "*/api/receipt*"}])
        try:
            sess = session("dosing", "esketamine", 10)
            seen = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
            await pub.chair("chair-1", [seen], sess=sess)
            await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
            await eventually(lambda: bool(held), 10, "chair-1's receipt on its way")
            # The EHR brought to the front: the station's tab is in the background.
            await page.other_tab_in_front()
            await page.until("document.visibilityState === 'hidden'", 10, "the tab hidden")
            # A second HIGH alarm of chair-1 while nobody sees the board: drawn, sounding.
            unseen = alert("chair-1", "spo2.very_low", "high", "SpO2 82 < 85", ago_s=1)
            await pub.active("chair-1", [seen, unseen], sess)  # its set alone, no event
            line = f'li.alert[data-alert-id="{unseen["alert_id"]}"]'
            await page.until(f"!!document.querySelector('{line}')", 10, "drawn, hidden")
            # The station answers the first receipt 503: it is retried on its timer (1 s).
            await page.send(
                "Fetch.fulfillRequest", requestId=held[0], responseCode=503,
                responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
                body="eyJlcnJvciI6ICJubyBicm9rZXIifQ==",  # {"error": "no broker"}
            )  # fmt: skip
            await eventually(lambda: (seen["alert_id"], "raised", 0) in got, 15, "the retry")
            # The retry asked its chair's other alarms in the same turn (heard.js
            # sendReceipt): the hidden one was not among them (none on its way, none sent).
            key = f"chair-1|{unseen['alert_id']}|raised|0"
            assert await page.js(f"receipted.has({key!r})") is False
            assert (unseen["alert_id"], "raised", 0) not in got, got
            # The nurse brings the board to the front: shown now, and sounding.
            await bring_to_front(page)
            await page.until("document.visibilityState === 'visible'", 10, "the tab in view")
            await eventually(
                lambda: got.get((unseen["alert_id"], "raised", 0)) == [True], 10, f"{got}"
            )
            await asyncio.gather(*answers)
        finally:
            page.on.pop("Fetch.requestPaused", None)
