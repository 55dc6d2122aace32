""" "Observation met in N min (HH:MM)" never gives an HH:MM before the time is met, on the
header's clock (docs/station.md "The chair's clock"): the minute at or after it. Before,
the HH:MM was floored (met at 10:45:40 read "10:45" from 10:45:00 on the header), and a
chair behind the station by less than CLOCK_SLACK_MS (2 s) had its time shown as its own,
that much early: a chair 1 s behind whose observation is met 0.5 s after a minute read
the minute before. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import TZ, session, station_page, tile


def hm(t: float) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(TZ)).strftime("%H:%M %Z")


async def test_observation_met_hh_mm_is_never_early(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, behind = time.time(), 1.0
        online = {"state": "online", "time": iso(now), "version": "0.1.0",
                  "chair_time": iso(now - behind)}  # fmt: skip
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(online), 1, True)
        # Met half a second after a minute M (on the station's clock), 15+ min from now.
        m = math.ceil((now + 900) / 60) * 60
        met = m + 0.5 - behind  # on the chair's clock
        sess = session("observation", "esketamine", None)
        sess.update(dose_start=iso(met - 7200), observation_met=iso(met))
        await pub.active("chair-1", [], sess, t=now - behind)
        line = f"{tile('chair-1')}.querySelector('.phase')?.textContent"
        text = await page.until(f"{line}?.includes('observation met in') && {line}", 20, "line")
        # At M on the header it is not met yet: the minute after M, never M or before.
        assert f"({hm(m + 60)})" in text, (text, hm(m + 60))
