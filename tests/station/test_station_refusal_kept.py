"""A refusal stays on its tile for 10 min (docs/station.md "Session controls": "A refusal on
`cmd/errors` ... is shown on the tile in words, with its time, for 10 min (it answers a tap;
hours later it would read as a problem of the next patient's session)"). A nurse pressed
Start, was called to another chair, and reads the tile minutes later: the refusal is still
there; one older than 10 min is not. The session tests read each answer at once: with the
refusals gone after 1 min the suite passed. Real station, real mosquitto, real Chromium."""

from __future__ import annotations

import json
import time
from pathlib import Path

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import SITE, alert, station_page, tile


async def test_a_refusal_is_shown_for_ten_minutes(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        ages = {"chair-1": 5, "chair-2": 11}  # minutes since the daemon refused
        for chair, minutes in ages.items():
            await pub.chair(chair, [alert(chair, "bp.rise", "low", "BP over baseline")])
            refusal = {
                "time": iso(time.time() - minutes * 60),
                "topic": f"{mqtt_prefix}/{SITE}/{chair}/cmd/session",
                "error": f"{chair}: a session is already open (dosing)",
                "payload": json.dumps({"action": "start", "by": "bob"}),
            }
            await pub.client.publish(pub.topic(chair, "cmd/errors"), json.dumps(refusal), 1)
        # Each refusal reaches its chair's state on the page (drawn or not, by its age).
        for chair in ages:
            await page.until(f"chairs.get('{chair}')?.errors?.length === 1", 20, chair)
        shown = await page.js(f"{tile('chair-1')}.querySelector('.refusal')?.textContent")
        assert shown and shown.startswith("Start session by bob refused at "), shown
        assert not await page.js(f"!!{tile('chair-2')}.querySelector('.refusal')")
