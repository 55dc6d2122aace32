"""A drawn alarm's receipt always comes (docs/station.md "MQTT"), now that a page receipts
an alarm only once its line is on its tile (heard.js `drawnAlert`): a receipt that never
comes for an alarm on screen and sounding leaves `delivery.unheard` at its chair, a
nuisance nurses learn to ignore. A guard, not a fix (audit C9): the line is found by its
alert id, which may hold any character (quotes, brackets, a backslash: a CSS selector
built from it would need escaping), on a chair whose id has dots and underscores, and an
alarm escalated while its tile is held under a finger, held again (a chain of presses),
is receipted at the release that draws it, not before.
Real station, real mosquitto, real headless Chromium, trusted mouse events.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page
from tests.station.test_station_tap_hold import RECORD, hold, press

SENT = "__receipts.map((r) => [r.alert_id, r.event, r.level, r.sounded])"


async def test_a_drawn_alarm_is_receipted_whatever_its_ids_and_held_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess, ch = session("dosing", "esketamine", 10), "Chair_2.b-x"
        await pub.chair(ch, [], sess=sess)
        await page.until(f"!!$('tile:{ch}')", 20, "board")
        await page.js(RECORD)
        aid = "a\"b'c[d]:e\\f #g.h"
        odd = {**alert(ch, "bp.crisis", "high", "BP 212/124"), "alert_id": aid}
        await pub.active(ch, [odd], sess)
        await pub.event(ch, odd, "raised", level=0)
        await page.until(f"{SENT}.length === 1", 10, "the raise's receipt")
        # Escalated under a finger, released, pressed again (a reading redraws into the
        # new hold), released.
        await hold(page, ch)
        esc = {**odd, "level": 1}
        await pub.active(ch, [esc], sess)
        await pub.event(ch, esc, "escalated", level=1)
        await page.until("press.held !== null && press.waiting.length > 0", 10, "held")
        assert await page.js(f"{SENT}.length") == 1  # not drawn yet: none
        await press(page, ch, "mouseReleased")
        await hold(page, ch)
        await pub.active(ch, [esc], sess)
        await page.until("press.held !== null", 10, "held again")
        await press(page, ch, "mouseReleased")
        await page.until(f"{SENT}.length === 2", 10, "the escalation's receipt")
        assert await page.js(SENT) == [[aid, "raised", 0, True], [aid, "escalated", 1, True]]
