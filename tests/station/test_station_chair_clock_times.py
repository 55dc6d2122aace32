"""The times a tile gives as HH:MM for a chair whose clock runs an hour behind the wall
clock (docs/station.md "The chair's clock", "Offline chairs"): on the station's clock,
the header's, which the nurse reads them against; the durations beside them on the
chair's. Before, "observation met in 95 min (02:45)" read at 02:10 on the header (a
discharge an hour early by the wall), its alarm "since" an hour before it was raised; and
the status's wall-clock `time` (docs/mqtt.md "status") of a daemon that connected 30 min
ago read as later than every reading on its clock since: "not monitored since" the
connect, 30 min before it was lost; the daemon's answer to an ACK said its times on
the chair's clock too. Real station, real mosquitto, real headless Chromium.
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
from tests.station.station_kit import TZ, alert, session, station_page, tile, vitals


def hm(t: float) -> tuple[str, str]:
    """HH:MM ZONE of station time `t`, or of a moment later (the chair's offset is learnt
    as the message arrives, a little late: never a minute's edge)."""
    return tuple(datetime.fromtimestamp(x, ZoneInfo(TZ)).strftime("%H:%M %Z") for x in (t, t + 5))  # type: ignore[return-value]


async def test_hh_mm_are_on_the_station_clock(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, behind = time.time(), 3600.0
        # The daemon connected 30 min ago (wall clock), its chair clock an hour behind.
        online = {"state": "online", "time": iso(now - 1800), "version": "0.1.0",
                  "chair_time": iso(now - 1800 - behind)}  # fmt: skip
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(online), 1, True)
        # Dose 25.5 min ago, an alarm raised 2 min ago, its set heard live, readings now:
        # all on the chair's clock.
        sess = session("dosing", "esketamine", None)
        dose = now - behind - 1530
        sess.update(dose_start=iso(dose), observation_met=iso(dose + 7200))
        low = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85", ago_s=behind + 150)
        await pub.active("chair-1", [low], sess, t=now - behind)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=behind + 5))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "readings")
        text = await page.js(f"{tile('chair-1')}.innerText")
        assert "dose +25 min" in text, text
        # The minute at or after it (never early: test_station_observation_not_early.py).
        met = [x for t in (now + 5670, now + 5675) for x in hm(math.ceil(t / 60) * 60)]
        assert any(f"observation met in 95 min ({x})" in text for x in met), text
        assert any(f"since {x} (2 min)" in text for x in hm(now - 150)), text
        # bob's ACK finds it acknowledged by alice a minute ago (the daemon's answer, its
        # times on the chair's clock): the answer line's times are the header's too.
        answer = {"time": iso(now - behind), "topic": pub.topic("chair-1", "cmd/ack"),
                  "error": "already acknowledged", "payload": json.dumps({"by": "bob"}),
                  "code": "acknowledged", "alert_id": low["alert_id"], "rule": low["rule"],
                  "acked_by": "alice", "acked_at": iso(now - behind - 60)}  # fmt: skip
        await pub.client.publish(pub.topic("chair-1", "cmd/errors"), json.dumps(answer), 1)
        line = f"{tile('chair-1')}.querySelector('.answer')?.innerText"
        text = await page.until(line, 10, "the daemon's answer")
        assert any(f"ACK by bob at {x}" in text for x in hm(now)), text
        assert any(f"acknowledged by alice at {x}" in text for x in hm(now - 60)), text
        # Lost: its Last Will carries the wall time of the connect, and no chair_time.
        will = {"state": "offline", "time": iso(now - 1800), "version": "0.1.0"}
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(will), 1, True)
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        text = await page.js(f"{tile('chair-1')}.querySelector('.offline-banner').innerText")
        await page.screenshot(tmp_path / "chair_clock.png")
        assert any(f"not monitored since {x} (0 min)" in text for x in hm(now)), text
