"""A page whose stream falls 1000 updates behind (a tab the browser froze while 8 kB
updates came: its socket stopped being read) is cut off by the station with a TCP reset
(docs/station.md "Stale", test_station_stream_stalled.py). What its nurse sees must be what
any lost stream shows: NOT LIVE with the technical tone while it lasts, then the board
live again as it is now and the gap said (from, to, how long); and the station's log must
not read as a fault of its own (before the reset, and before the fix of
test_station_stream_gone_log.py, this run logged aiohttp's "Error handling request" at
ERROR with a traceback in one run of three: the resumed page dropped its old stream while
the station's write waited). Real station (in this process, to see its log and its streams), real
mosquitto, real headless Chromium frozen and resumed (Page.setWebLifecycleState)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.cdp import browser
from tests.station.station_kit import (
    ChairPublisher,
    broker_and_station,
    faults,
    login_page,
    session,
    tile,
)

PAD = "x" * 4000  # each update ~8 kB on the stream: the browser's buffers fill soon
UPDATES = 3000  # beyond what the socket and the browser buffer plus the 1000 queued
LAST_HR = 123  # the last update's HR, drawn once the page is live again


async def test_a_page_cut_off_behind_says_not_live_then_is_live_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        broker_and_station(tmp_path, mosquitto, mqtt_prefix) as (c, st, url),
        browser() as b,
    ):
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        pub = ChairPublisher(c, mqtt_prefix)
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"{tile('chair-1')} !== null", 20, "chair-1 drawn")
        await eventually(lambda: len(st._clients) == 1, 10, "the page's stream")
        await page.send("Page.setWebLifecycleState", state="frozen")
        for seq in range(UPDATES):
            hr = LAST_HR if seq == UPDATES - 1 else 70
            body = {"kind": "hr", "hr_bpm": hr, "valid": True, "seq": seq, "pad": PAD}
            await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
        await eventually(lambda: not st._clients, 60, "the page's stream cut off behind")
        await page.send("Page.setWebLifecycleState", state="active")
        await page.until("!document.getElementById('gap-banner').hidden", 20, "the gap said")
        text = await page.js("document.getElementById('gap-text').textContent")
        assert text.startswith("NOT LIVE from ") and "were not shown or sounded here" in text
        await page.until("!document.body.classList.contains('stale')", 20, "live again")
        await page.until(f"{tile('chair-1')}.innerText.includes('{LAST_HR}')", 20, "as it is now")
        tones = await page.js("window.__monitordAudio.log.map((x) => x.priority)")
        assert "technical" in tones, tones  # the time it was not live sounded as such
        await page.until("window.__monitordAudio.current === null", 10, "silent when live")
        await eventually(lambda: len(st._clients) == 1, 10, "its new stream")
    said = faults(caplog.records)
    assert not said, said
