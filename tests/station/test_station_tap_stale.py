"""A tap under way when the board goes stale still lands on what was pressed
(docs/station.md "ACK"). Going stale shows the stale banner above the board (the board
is shifted back: press.js) and a "STALE: last known, not live" line at the top of every
tile, inside it: the pressed tile stayed where it was, but its ACK moved down by that
line under the finger, and the release landed above it: the ACK was not sent, and
nothing said so. The 1 s cap's timer is stopped (as in test_station_tap_hold.py): what
is checked is where the release lands, not how long a hold lasts. Real station, real
mosquitto (stopped), real headless Chromium, trusted mouse events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile, vitals

# Every ACK the page posts, as it posts it (the station's fetch, unchanged).
RECORD = (
    "window.__acks = []; { const f = window.fetch; window.fetch = (p, o) => {"
    " if (p === '/api/ack') window.__acks.push(JSON.parse(o.body)); return f(p, o); }; }"
)


async def test_an_ack_pressed_as_the_board_goes_stale_is_sent(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1280, 720)) as (page, pub):
        sess = session("dosing", "esketamine", 20)
        alerts = {}
        for i in range(1, 9):
            cid = f"chair-{i}"
            alerts[cid] = alert(cid, "spo2.low", "high" if i % 2 else "medium", "SpO2 88 < 90")
            await pub.status(cid, "online")
            await pub.vitals(cid, vitals(cid, 131, 84, 71, 97, 5))
            await pub.active(cid, [alerts[cid]], sess)
        # The whole board drawn first: chairs 6-8's alarms arriving after chair-5's ACK was
        # measured grew the alarm bar above it and moved the button from under the press
        # (seen on a loaded CI run).
        await page.until(
            "document.querySelectorAll('#alarm-bar .sum').length === 8 &&"
            " document.querySelectorAll('.tile button.ack').length === 8",
            20,
            "eight chairs in alarm drawn",
        )
        ack = f"{tile('chair-5')}.querySelector('button.ack')"
        at: dict[str, Any] = await page.until(
            f"{ack} && (() => {{ {ack}.scrollIntoView({{block: 'center'}});"
            f" const r = {ack}.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
            20,
            "chair-5's ACK",
        )
        await page.js(RECORD)

        async def mouse(kind: str) -> None:
            await page.send(
                "Input.dispatchMouseEvent",
                type=kind, x=at["x"], y=at["y"], button="left", clickCount=1,
            )  # fmt: skip

        await mouse("mousePressed")
        assert await page.js("press.chair === 'chair-5' && (clearTimeout(press.timer), true)")
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("document.body.classList.contains('stale')", 15, "stale")
            assert await page.js("press.held") == "chair-5"  # its redraw waits
            await mouse("mouseReleased")
            await page.until("__acks.length > 0", 5, "the ACK sent")
            assert await page.js("__acks") == [
                {"chair": "chair-5", "alert_id": alerts["chair-5"]["alert_id"]}
            ]
        finally:
            await asyncio.to_thread(mosquitto.start)
