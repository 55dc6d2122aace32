"""An offline chair's "not monitored since" for a chair whose clock runs behind the wall
clock (docs/station.md "Offline chairs"): its status's `time` is the daemon's wall clock,
its readings, sets and events are on the chair's clock (docs/mqtt.md "status"). Before,
the `online` of a daemon that connected 30 min ago, an hour behind, read as later than
every reading since: the tile said "not monitored since" the connect, 30 min before it
was lost. The banner also says how long ago, on the chair's clock, as the alert lines
do. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import TZ, session, station_page, tile, vitals


async def test_offline_since_is_on_the_chair_clock(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, behind = time.time(), 3600.0
        # The daemon connected 30 min ago (wall clock), its chair clock an hour behind.
        online = {"state": "online", "time": iso(now - 1800), "version": "0.1.0",
                  "chair_time": iso(now - 1800 - behind)}  # fmt: skip
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(online), 1, True)
        # Its last set, heard live, and its last readings: on the chair's clock, now.
        await pub.active("chair-1", [], session("dosing", "esketamine", 10), t=now - behind)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=behind + 5))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "readings")
        # Lost: its Last Will carries the wall time of the connect, and no chair_time.
        will = {"state": "offline", "time": iso(now - 1800), "version": "0.1.0"}
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(will), 1, True)
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        text = await page.js(f"{tile('chair-1')} .querySelector('.offline-banner').innerText")
        await page.screenshot(tmp_path / "offline_clock.png")
        last = datetime.fromtimestamp(now - behind, ZoneInfo(TZ))
        assert f"not monitored since {last:%H:%M %Z} (0 min)" in text, text
