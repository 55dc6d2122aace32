"""A page receipts an alarm only once its tile shows it (docs/station.md "MQTT"): the
daemon takes the receipt as a nurse shown the alarm and stops waiting for one, so a
receipt of an alarm never drawn is a false proof of delivery. The station sends a
chair's tile update before the event (server.py `_changed`), yet before, the page sent
the receipt of a live `raised` whatever its board then showed:
- an alarm raised and cleared while its tile's redraw waited under a finger (press.js),
  or within one frame (a daemon re-sending its queued events after an outage), was
  receipted after a redraw without it: never on screen;
- an event ahead of its chair's update (a page's contract, whatever the server's order)
  was receipted, `sounded: false`, while the tile did not show it.
Real station, real mosquitto, real headless Chromium, trusted mouse events.
"""

from __future__ import annotations

import json
from pathlib import Path

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile
from tests.station.test_station_tap_hold import RECORD, hold, press

SENT = "__receipts.map((r) => [r.alert_id, r.event])"


async def test_an_alarm_is_receipted_only_once_drawn(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        await page.until(f"{tile('chair-2')}.innerText.includes('DOSING')", 20, "board")
        await page.js(RECORD)
        # chair-1's tile held under a finger; its alarm raised and cleared meanwhile.
        await hold(page, "chair-1")
        brief = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.active("chair-1", [brief], sess)
        await pub.event("chair-1", brief, "raised", level=0)
        await pub.active("chair-1", [], sess)
        await pub.event("chair-1", brief, "cleared")
        gone = f"__monitordShown.some((x) => x.alert_id === {brief['alert_id']!r}"
        gone += " && x.event === 'cleared') && chairs.get('chair-1').alerts.length === 0"
        await page.until(gone, 10, "cleared")
        await press(page, "chair-1", "mouseReleased")
        # An event the page is sent ahead of its chair's update (dispatched as the stream
        # would): receipted once the update draws it, not before.
        ahead = alert("chair-2", "spo2.very_low", "high", "SpO2 82 < 85")
        ev = {**ahead, "chair": "chair-2", "event": "raised", "time": iso(ahead["raised_t"])}
        data = json.dumps(json.dumps(ev))
        await page.js(f"es.dispatchEvent(new MessageEvent('alert', {{data: {data}}})); true")
        # What follows both, drawn and receipted: by then each of the two was due.
        medium = alert("chair-3", "hr.high", "medium", "HR 128 > 120 for 5 min")
        await pub.chair("chair-3", [medium], sess=sess)
        await pub.event("chair-3", medium, "raised", level=0)
        await page.until(f"{SENT}.some(([a]) => a === {medium['alert_id']!r})", 10, "chair-3's")
        await page.until(f"{SENT}.some(([a, e]) => a === {brief['alert_id']!r} && e === 'cleared')")
        sent = await page.js(SENT)
        assert [brief["alert_id"], "raised"] not in sent, sent  # never on screen
        assert "212/124" not in await page.js(f"{tile('chair-1')}.innerText")
        assert ahead["alert_id"] not in [a for a, _ in sent], sent  # not drawn yet
        # Its chair's update draws it: receipted then, sounding.
        await pub.active("chair-2", [ahead], sess)
        await page.until(f"{SENT}.some(([a]) => a === {ahead['alert_id']!r})", 10, "drawn")
        assert "SpO2 82" in await page.js(f"{tile('chair-2')}.innerText")
        mine = await page.js(f"__receipts.filter((r) => r.alert_id === {ahead['alert_id']!r})")
        assert [(r["event"], r["sounded"]) for r in mine] == [("raised", True)], mine
        await page.screenshot(tmp_path / "receipt_drawn.png")
