"""The contrast of every word of the station page against what is under it, in every state
of the board (docs/station.md "Keyboard and screen reader"): alarms of each priority,
unacknowledged (both halves of their flash) and acknowledged, a technical one, an offline
chair, the audio paused; the board STALE; and with forced colours (Windows High
Contrast). WCAG AA: 4.5:1, 3:1 for large text. A nurse with low vision, or anyone across
the room, reads the ONLINE badge and an acknowledged alarm's words. Before, ONLINE was
3.6:1 (light grey on green) and an acknowledged alarm's row was faded to 60 % as a whole,
its words with it: 3.4:1 on a high, 3.9:1 on a low. Real station, mosquitto, Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.contrast import too_low
from tests.station.station_kit import ChairPublisher, alert, session, station_page

FORCED = [{"name": "forced-colors", "value": "active"}]


async def every_kind(pub: ChairPublisher) -> None:
    dosing = session("dosing", "esketamine", 20)
    for prio in ("high", "medium", "low"):
        a = alert(f"c-{prio}", "spo2.low", prio, f"SpO2 86 < 90 ({prio})")
        await pub.chair(f"c-{prio}", [a], sess=dosing)
        done = alert(f"c-{prio}-ack", "bp.low", prio, "BP 82/50", ack=True, by="bob")
        await pub.chair(f"c-{prio}-ack", [done], sess=dosing)
    tech = alert("c-tech", "spo2.probe_off", "medium", "SpO2 probe off", kind="technical")
    await pub.chair("c-tech", [tech], sess=dosing)
    await pub.chair("c-off", [], online=False, sess=dosing)
    await pub.chair("c-idle", [])


async def shown(page: Page) -> None:
    await page.until("document.querySelectorAll('.tile').length === 9", 20, "9 tiles")
    await page.until("document.querySelectorAll('.alert.acked').length === 3", 10, "acked")
    await page.until("!!document.querySelector('.offline-banner')", 10, "offline chair")


@pytest.mark.parametrize("media", ["normal", "forced-colors"])
async def test_every_word_meets_aa_contrast(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, media: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(1366, 1100)) as (page, pub):
        if media == "forced-colors":
            await page.send("Emulation.setEmulatedMedia", features=FORCED)
            assert await page.js("matchMedia('(forced-colors: active)').matches")
        await every_kind(pub)
        await shown(page)
        await page.tap("#pause")
        await page.until("!document.getElementById('paused-banner').hidden", 10, "paused")
        await page.screenshot(tmp_path / f"contrast-{media}.png")
        bad = await too_low(page)
        assert bad == [], "\n".join(map(str, bad))
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until("document.body.classList.contains('stale')", 15, "stale")
            await page.screenshot(tmp_path / f"contrast-{media}-stale.png")
            bad = await too_low(page)
            assert bad == [], "\n".join(map(str, bad))
        finally:
            await asyncio.to_thread(mosquitto.start)
