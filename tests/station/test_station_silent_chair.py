"""A chair whose network is cut reads ONLINE until its Last Will (1.5 x keepalive_s, up
to 45 s). A daemon publishes nothing on a timer, but a chair with a streaming device
publishes its readings at every commit: once such a chair has been silent SILENT_AFTER_S,
its tile says NOT HEARD, until its next message (docs/station.md "Silent chairs"). A chair
with no streaming device (a cuff alone) is never said silent. Real mosquitto, the real
station served in this process with a silent time of SILENT_S (Station's
`silent_after_s`, waited out here), a real headless Chromium; the chairs are messages
shaped as a daemon publishes them (station_kit)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import load_config
from monitord.station.model import SILENT_AFTER_S
from monitord.station.server import Station
from tests.servers import Mosquitto
from tests.station.cdp import browser
from tests.station.station_kit import (
    ChairPublisher,
    login_page,
    mqtt_login,
    session,
    station_config,
    station_in_process,
    tile,
    vitals,
)

SILENT_S = 2.0


async def test_a_streaming_chair_gone_silent_reads_not_heard(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    # `monitord station` (cli.py) makes its Station with the default: SILENT_AFTER_S.
    assert Station(load_config(cfg)).model.silent_after_s == SILENT_AFTER_S
    async with (
        mqtt_login(mosquitto) as client,
        station_in_process(cfg, silent_after_s=SILENT_S) as (_, url),
        browser() as b,
    ):
        pub = ChairPublisher(client, mqtt_prefix)
        page = await b.new_page()
        await login_page(page, url, "alice")
        # chair-1 streams (an oximeter's reading at every commit, here every 0.25 s);
        # chair-2 has a cuff alone: one reading, then nothing for minutes.
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await pub.chair("chair-2", [], sess=session("dosing", "esketamine", 20))
        for _ in range(4):
            await pub.vitals("chair-1", {"spo2": vitals("chair-1", 0, 0, 72, 98)["spo2"]})
            await asyncio.sleep(0.25)
        await page.until(f"{tile('chair-1')}.innerText.includes('ONLINE')", 10, "online")
        # Its network is cut (nothing more, no Last Will yet): NOT HEARD on its tile.
        words = f"{tile('chair-1')}.querySelector('.silent-banner')?.innerText"
        text = await page.until(words, 10, "chair-1 not heard")
        assert text.startswith("NOT HEARD for ") and "watch the chair directly" in text, text
        state = await page.js(f"{tile('chair-1')}.querySelector('.state').innerText")
        assert state == "NOT HEARD", state
        assert "monitor not known (not heard)" in await page.js(f"{tile('chair-1')}.innerText")
        await page.screenshot(tmp_path / "silent.png")
        # chair-2 was as silent, longer: no stream, nothing periodic to miss.
        other = await page.js(f"{tile('chair-2')}.innerText")
        assert "ONLINE" in other and "NOT HEARD" not in other, other
        # Shown silently: the Last Will's OFFLINE is what sounds (a chair lost in session).
        assert await page.js("window.__monitordAudio.current") is None
        # Heard again (the network back): ONLINE at once.
        await pub.vitals("chair-1", {"spo2": vitals("chair-1", 0, 0, 72, 97)["spo2"]})
        await page.until(f"!{tile('chair-1')}.querySelector('.silent-banner')", 10, "heard")
        assert await page.js(f"{tile('chair-1')}.querySelector('.state').innerText") == "ONLINE"
        await page.close()
