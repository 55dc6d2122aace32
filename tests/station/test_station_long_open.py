"""A wallboard's page is never reloaded (docs/station.md "A page left open"): what it keeps
per alarm and per offline episode must not grow with the weeks it stays open. Real
station, real mosquitto, real headless Chromium; counted in the page's own structures,
after a compressed run of alarms and offline episodes (a clinic's week has hundreds).

Before, every low alert's id stayed in the page's set of low alerts already sounded, every
offline episode acknowledged on the board stayed in its set of acknowledged ones, and each
tone burst, alert event and line said to a screen reader (a11y.js) stayed in its logs: for
as long as the page was open."""

from __future__ import annotations

import time
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

# What the page may keep (audio.js): low alerts already sounded, beyond those on the board;
# the entries of its logs (the last ones).
LOW_SEEN_KEEP = 64
KEEP_LOG = 200
LOWS = 300  # more low alerts than either keeps
BURSTS = "window.__monitordAudio.bursts"


async def test_a_week_of_low_alerts_keeps_a_bounded_memory(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        # One low alert stays active all along: it sounded once and must not again.
        standing = alert("chair-1", "tech.bp_overdue", "low", "No valid BP", kind="technical")
        await pub.chair("chair-1", [standing])
        await page.until(f"{BURSTS} === 1", 20, "the standing low alert's pulses")
        for n in range(LOWS):  # each raised, shown, then cleared by the next set
            low = alert("chair-1", "bp.rise", "low", f"BP over baseline #{n}")
            low["alert_id"] = f"low-{n}"
            await pub.event("chair-1", low, "raised")
            await pub.active("chair-1", [standing, low])
        await page.until(
            f"{tile('chair-1')}.innerText.includes('#{LOWS - 1}')", 60, "the last low alert drawn"
        )
        await page.until(f"{BURSTS} === {LOWS + 1}", 20, "each new low alert sounded once")
        sizes = await page.js(
            "[audio.lowSeen.size, window.__monitordAudio.log.length, window.__monitordShown.length,"
            " window.__monitordSaid.length]"
        )
        assert sizes[0] <= LOW_SEEN_KEEP + 2, sizes  # + the two on the board
        assert sizes[1] <= KEEP_LOG and sizes[2] <= KEEP_LOG and sizes[3] <= KEEP_LOG, sizes
        # What was forgotten is only what left the board: the standing alert (the oldest
        # sounded) and the last one, redrawn, do not sound again.
        await pub.active("chair-1", [standing, {**low, "message": "BP over baseline again"}])
        await page.until(f"{tile('chair-1')}.innerText.includes('again')", 20, "redrawn again")
        assert await page.js(BURSTS) == LOWS + 1
        last = await page.js("window.__monitordAudio.log.at(-1)")
        assert last["priority"] == "low", last  # the log keeps the latest


async def test_offline_episodes_acknowledged_are_forgotten_once_over(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    sess = session("dosing", "esketamine", 5)
    t0 = time.time()  # each status its own time: one time offline each
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=sess)
        await page.until(f"{tile('chair-1')} !== null", 20, "chair-1 drawn")
        for n in range(20):  # lost with a patient on it, ACKed on the board, back
            await pub.status("chair-1", "offline", t=t0 + 2 * n)
            button = "[id='offack:chair-1']"
            await page.until(f"document.querySelector({button!r}) !== null", 20, "ACK offline")
            await page.tap(button)
            await page.until("window.__monitordAudio.current === null", 20, "the tone ACKed")
            await pub.status("chair-1", "online", t=t0 + 2 * n + 1)
            await page.until(f"!{tile('chair-1')}.className.includes('offline')", 20, "online")
        await pub.status("chair-1", "offline", t=t0 + 100)
        await page.until("document.querySelector('[id=\"offack:chair-1\"]') !== null", 20, "lost")
        await page.tap("[id='offack:chair-1']")
        await page.until("window.__monitordAudio.current === null", 20, "the last one ACKed")
        # One episode of one chair is not over: it alone is kept, and it stays ACKed.
        await pub.active("chair-1", [], sess)
        await page.until("offlineAck.size === 1", 20, "the episodes over forgotten")
        assert await page.js(f"{tile('chair-1')}.innerText.includes('ACK (this screen)')")
        assert await page.js("window.__monitordAudio.current") is None
