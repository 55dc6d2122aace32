"""Since when an offline chair is not monitored, for a chair whose clock is not known
(docs/station.md "Offline chairs"): a daemon older than `chair_time`, or the station
restarted since the chair connected. Its times are on its own clock, and a chair an hour
behind the station's read "not monitored since 09:10 (60 min)" at 10:10 on the header,
lost a minute before. The station counts it on its own clock instead: the chair's last
message it heard live (a Last Will, or a clean stop's `offline`, is no sign of life).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.models import iso
from monitord.station.model import StationModel
from tests.servers import Mosquitto
from tests.station.station_kit import TZ, session, station_page, tile, vitals


def hm(t: float) -> tuple[str, str]:
    """HH:MM of station time `t`, or of a moment later (never a minute's edge)."""
    return tuple(datetime.fromtimestamp(x, ZoneInfo(TZ)).strftime("%H:%M") for x in (t, t + 5))  # type: ignore[return-value]


async def test_offline_since_of_a_chair_behind_whose_clock_is_not_known(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, behind = time.time(), 3600.0
        # A daemon without `chair_time`: its status `time`, set and readings all on its
        # clock, an hour behind.
        await pub.status("chair-1", "online", t=now - behind)
        sess = session("dosing", "esketamine", None)
        await pub.active("chair-1", [], sess, t=now - behind)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=behind + 3))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "readings")
        await pub.status("chair-1", "offline", t=now - behind)  # its Last Will
        banner = f"{tile('chair-1')}.querySelector('.offline-banner')?.innerText"
        text = await page.until(banner, 10, "offline")
        await page.screenshot(tmp_path / "offline_unknown_clock.png")
        assert any(f"not monitored since {x} " in text for x in hm(now)), text
        assert "(0 min)" in text, text


def test_the_last_live_message_is_what_the_offline_banner_counts_from() -> None:
    m = StationModel("monitord", "site")

    def put(chair: str, rest: str, body: dict[str, object], at: float | None) -> None:
        assert not m.apply(f"monitord/site/{chair}/{rest}", json.dumps(body).encode(), at).rejected

    t = iso(time.time())
    for chair in ("chair-1", "chair-2"):
        put(chair, "status", {"state": "online", "time": t}, 100.0)
        put(chair, "vitals/hr", {"kind": "hr", "hr_bpm": 70, "measured_at": t}, 110.0)
    put("chair-1", "status", {"state": "offline", "time": t}, 150.0)  # its Last Will, live
    assert m.chairs["chair-1"].to_json(160.0)["heard_ago_s"] == 50.0  # not 10
    # The station back on the broker at 200: chair-1 was lost before, still 90 s ago;
    # chair-2's Last Will came meanwhile (replayed): when it was lost is not known.
    m.listening(200.0)
    put("chair-1", "status", {"state": "offline", "time": t}, None)
    put("chair-2", "status", {"state": "offline", "time": t}, None)
    assert m.chairs["chair-1"].to_json(200.0)["heard_ago_s"] == 90.0
    assert m.chairs["chair-2"].to_json(200.0)["heard_ago_s"] is None
