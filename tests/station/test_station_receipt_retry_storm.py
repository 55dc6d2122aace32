"""A receipt the page could not send is tried again on the backoff only, one timer per
receipt (docs/station.md "MQTT"): 1 s, then doubling to every 10 s. Before, an alarm
receipted silent (audio paused) whose tone then started was receipted again, `sounded`,
at every message of its chair while the station answered 503, with no backoff, and each
failure left a timer of its own that fired again and failed again: a streaming chair
(a reading a second) made its page POST faster and faster, and 32 chairs in alarm through
a minute's outage hundreds of requests a second at the station coming back. Now every
try waits out the last failure's backoff, whatever brought it (a chair message, a tone
started, the retry timer), and the receipt reaches the daemon once sounded. The page's
requests fail in the browser itself (DevTools `Fetch`: the station answering 503); real
station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from pathlib import Path
from typing import Any

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, vitals

FIRST_S, MAX_S = 1.0, 10.0  # heard.js RECEIPT_RETRY_FIRST_MS, RECEIPT_RETRY_MS


async def test_a_failing_receipt_waits_its_backoff_whatever_asks_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        tries: list[tuple[float, dict[str, Any]]] = []  # (monotonic, body) of each POST
        failing = True

        async def paused(p: dict[str, Any]) -> None:
            rid = p["requestId"]
            tries.append((time.monotonic(), json.loads(p["request"].get("postData") or "{}")))
            if not failing:
                await page.send("Fetch.continueRequest", requestId=rid)
                return
            body = '{"error": "not sent: the broker is not connected"}'
            await page.send(
                "Fetch.fulfillRequest", requestId=rid, responseCode=503,
                responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
                body=base64.b64encode(body.encode()).decode(),
            )  # fmt: skip

        tasks: list[asyncio.Task[None]] = []
        page.on["Fetch.requestPaused"] = lambda p: tasks.append(asyncio.create_task(paused(p)))
        try:
            sess = session("dosing", "esketamine", 10)
            medium = alert("chair-1", "hr.high", "medium", "HR 128 > 120 for 5 min")
            key = (medium["alert_id"], "raised", 0)
            # chair-2's high alarm sounds: chair-1's medium is receipted, silent (the
            # station answers).
            loud = alert("chair-2", "bp.crisis", "high", "BP 212/124 >= 180/110")
            await pub.chair("chair-2", [loud], sess=sess)
            await page.until("window.__monitordAudio.current?.priority === 'high'", 20, "high")
            await pub.chair("chair-1", [medium], sess=sess)
            await eventually(lambda: key in got, 20, "the silent receipt")
            assert got[key] == [False]
            # The station stops answering; chair-2's alarm is acknowledged, chair-1's
            # sounds: its receipt is sent again, sounded, and fails.
            await page.send("Fetch.enable", patterns=[{"urlPattern": "*/api/receipt*"}])
            await pub.active("chair-2", [{**loud, "ack": True, "by": "bob"}], sess)
            sounding = "window.__monitordAudio.current?.priority === 'medium'"
            await page.until(sounding, 10, "chair-1 sounding")
            await eventually(lambda: len(tries) >= 1, 10, "the sounded receipt tried")
            # Its chair streams: a reading every 0.2 s for 12 s, each a new message.
            for _ in range(60):
                await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98))
                await asyncio.sleep(0.2)
            failing = False
            await eventually(lambda: got.get(key) == [False, True], 30, "the sounded receipt")
            at = [t for t, b in tries if b.get("alert_id") == medium["alert_id"]]
            gaps = [round(b - a, 2) for a, b in itertools.pairwise(at)]
            # It was tried again on the backoff (1, 3, 7 s: the first try and at least 2).
            assert len(at) >= 3, at
            # Each try waits at least its backoff after the failure before it (a slow
            # machine only makes the gaps longer); a little under, for the timer's tick.
            want = [min(FIRST_S * 2**i, MAX_S) * 0.8 for i in range(len(gaps))]
            assert all(g >= w for g, w in zip(gaps, want, strict=True)), (gaps, want)
        finally:
            page.on.pop("Fetch.requestPaused", None)
            for t in tasks:
                await t
