"""Two Pis run one chair id on one broker: each daemon's connection is taken over by the
other's (sinks/mqtt_takeover.py) and the chair's readings interleave two patients'. The
daemon's retained `status` then carries `conflict` (docs/mqtt.md; the daemon's side:
tests/delivery/test_mqtt_takeover.py). Before, the station showed such a chair as one
normal chair: the nurse could not know a reading may be another patient's. Now its model
keeps the field per chair and the tile says so, its readings greyed, with no tone (a
configuration fault, for IT); a status without it clears it (docs/station.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from monitord.models import iso
from monitord.station.model import StationModel
from tests.servers import Mosquitto
from tests.station.station_kit import alert, station_page, tile, vitals

CONFLICT = "another client uses this chair's id"  # sinks/mqtt_takeover.py CONFLICT
BANNER = "TWO MONITORS REPORT AS THIS CHAIR — readings may be another patient's; call IT"


def status(state: str, conflict: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"state": state, "time": iso(time.time()), "version": "0.2.0"}
    if conflict is not None:
        body["conflict"] = conflict
    return body


def test_the_model_keeps_a_chairs_conflict_until_a_status_without_it() -> None:
    m = StationModel("monitord", "site")

    def put(body: dict[str, object]) -> dict[str, object]:
        changes = m.apply("monitord/site/chair-3/status", json.dumps(body).encode(), at=1.0)
        assert not changes.rejected and changes.chairs == {"chair-3"}, changes
        return m.chairs["chair-3"].to_json()

    assert put(status("online"))["conflict"] is None
    assert put(status("online", CONFLICT))["conflict"] == CONFLICT
    # A clean stop's `offline` while taken over says it too: the chair stays marked.
    view = put(status("offline", CONFLICT))
    assert view["conflict"] == CONFLICT and view["online"] is False
    assert put(status("online"))["conflict"] is None  # held again, alone: cleared
    # The Last Will never says it (set at the connect, it would outlive the takeover:
    # docs/mqtt.md): the Will published at each takeover leaves the chair marked.
    put(status("online", CONFLICT))
    view = put(status("offline"))
    assert view["conflict"] == CONFLICT and view["online"] is False
    assert put(status("online", CONFLICT))["conflict"] == CONFLICT
    assert put(status("online"))["conflict"] is None
    # Screened as any field: not text, the status is refused and the chair kept as it was.
    put(status("online", CONFLICT))
    bad = m.apply("monitord/site/chair-3/status", json.dumps(status("online", 1)).encode())  # type: ignore[arg-type]
    assert bad.rejected and "conflict" in bad.rejected, bad.rejected
    assert m.chairs["chair-3"].conflict == CONFLICT


async def test_the_tile_says_two_monitors_report_as_this_chair(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Real mosquitto, the real station process, a real headless Chromium."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [])
        await pub.chair("chair-2", [])
        # chair-2's daemon says another client takes its connection over.
        body = json.dumps(status("online", CONFLICT))
        await pub.client.publish(pub.topic("chair-2", "status"), body, 1, True)
        await pub.vitals("chair-2", vitals("chair-2", 131, 82, 75, 96, ago_s=5))
        banner = f"{tile('chair-2')}.querySelector('.conflict-banner')?.innerText"
        assert await page.until(banner, 15, "chair-2's conflict banner") == BANNER
        ages = await page.js(
            f"[...{tile('chair-2')}.querySelectorAll('.vital')]"
            ".map((v) => v.className + ' | ' + v.innerText.replace(/\\n/g, ' '))"
        )
        assert len(ages) == 3 and all(
            a.startswith("vital stale") and "NOT SURE WHOSE" in a for a in ages
        ), ages
        # Still ONLINE (the daemon is), marked on the alarm bar, and no tone.
        assert await page.js(f"{tile('chair-2')}.querySelector('.state').innerText") == "ONLINE"
        summary = await page.js("document.getElementById('alarm-bar').innerText")
        assert "chair-2" in summary and "TWO MONITORS" in summary, summary
        assert await page.js("window.__monitordAudio.current") is None
        # The other chair is as it was.
        other = await page.js(f"{tile('chair-1')}.innerText")
        assert "TWO MONITORS" not in other and "NOT SURE WHOSE" not in other, other
        shot = tmp_path / "conflict.png"
        await page.screenshot(shot)
        print(f"screenshot: {shot}")
        # The takeover ended (one Pi left): its status without `conflict` clears the tile.
        await pub.status("chair-2", "online")
        await page.until(f"!{tile('chair-2')}.querySelector('.conflict-banner')", 15, "cleared")
        text = await page.js(f"{tile('chair-2')}.innerText")
        assert "NOT SURE WHOSE" not in text, text
        assert await page.js(f"{tile('chair-2')}.querySelectorAll('.vital.stale').length") == 0
        assert await page.js("document.getElementById('alarm-bar').hidden") is True


async def test_a_conflict_chairs_alarm_keeps_its_look_on_the_alarm_bar(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A chair two monitors report as, with a physiological HIGH: its alarm-bar link had a
    dashed border (purple), the bar's sign of a technical alarm (docs/station.md), and a
    technical alarm's white dashed border turned purple. The conflict is now a ring inside
    the link, as the tile's is outside it: the border says what it said before."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [])
        high = alert("chair-2", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s")
        tech = alert("chair-3", "device.lost", "medium", "monitor lost", kind="technical")
        for c, alerts in (("chair-2", [high]), ("chair-3", [tech])):
            await pub.chair(c, alerts)
            body = json.dumps(status("online", CONFLICT))
            await pub.client.publish(pub.topic(c, "status"), body, 1, True)
        await page.until("window.__monitordAudio.current?.priority === 'high'", 15, "high tone")
        bar = "document.getElementById('alarm-bar')"
        await page.until(f"{bar}.querySelectorAll('a.conflict').length === 2", 15, "marked")
        looks = await page.js(
            f"[...{bar}.querySelectorAll('a')].map((a) => {{ const s = getComputedStyle(a);"
            " return [a.dataset.chair, s.borderTopStyle, s.borderTopColor, s.boxShadow]; })"
        )
        (c2, s2, _, ring2), (c3, s3, colour3, ring3) = looks
        assert (c2, c3) == ("chair-2", "chair-3"), looks  # the high first
        assert s2 != "dashed", looks  # a physiological alarm: not the technical sign
        assert (s3, colour3) == ("dashed", "rgb(255, 255, 255)"), looks  # as without it
        assert "inset" in ring2 and "inset" in ring3, looks
        await page.screenshot(tmp_path / "conflict_alarm_bar.png")
