"""An alarm receipted silent that then sounds is receipted again, `sounded: true`, when its
tone starts (docs/station.md "MQTT"), not at its chair's next message. Before, a medium
alarm shown while another chair's high alarm played was receipted silent, and when that
high one was acknowledged and the medium tone started, nothing said so until the medium
chair published again (a chair with no streaming reading: minutes; its set: only when
its alerts change). Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from pathlib import Path

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page

SOUND = "window.__monitordAudio.current?.priority ?? null"


async def test_a_silent_receipt_is_sent_again_when_its_tone_starts(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub), pub.receipts() as got:
        sess = session("dosing", "esketamine", 10)
        loud = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        medium = alert("chair-2", "hr.high", "medium", "HR 128 > 120 for 5 min")
        await pub.chair("chair-1", [loud], sess=sess)
        await page.until(f"{SOUND} === 'high'", 20, "chair-1 sounding")
        await pub.chair("chair-2", [medium], sess=sess)
        key = (medium["alert_id"], "raised", 0)
        await eventually(lambda: key in got, 10, "chair-2's receipt")
        assert got[key] == [False], got  # shown; the high tone is chair-1's
        # chair-1 acknowledged (a message of chair-1 only): chair-2's tone starts.
        await pub.active("chair-1", [{**loud, "ack": True, "by": "alice"}], sess)
        await page.until(f"{SOUND} === 'medium'", 10, "chair-2 sounding")
        await eventually(lambda: got[key] == [False, True], 10, f"sounded now: {got}")
