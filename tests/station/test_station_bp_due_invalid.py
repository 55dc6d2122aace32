"""An invalid BP does not reset the tile's next BP due (docs/station.md "Invalid readings":
"the next BP due counts from the last valid BP too"; clinical-rules.md: `tech.bp_overdue`
"restarts at every valid BP", an invalid reading is skipped). Real station, real
mosquitto, real headless Chromium.

A dosing chair whose BP is 2 min overdue gets a cuff error now (`valid: false`): the tile
still reads "BP overdue by 2 min" and the last valid BP as its value; read from the
invalid reading, it would say "next BP due in 10 min" to a nurse whose patient has had
no usable BP for 12 min."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import session, station_page, tile, vitals


async def test_an_invalid_bp_leaves_the_bp_overdue(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 20)
        sess.update(bp_cycle_s=600.0)
        valid = vitals("chair-1", 132, 84, 72, 98, ago_s=750)["bp"]
        sess["bp_due"] = vitals("chair-1", 0, 0, 0, 0, ago_s=150)["bp"]["measured_at"]
        await pub.chair("chair-1", [], sess=sess)
        await pub.vitals("chair-1", {"bp": valid})
        due = f"{tile('chair-1')}.querySelector('.bpdue')?.innerText"
        await page.until(f"{due} === 'BP overdue by 2 min'", 10, "overdue before")
        bad = {
            **vitals("chair-1", 0, 0, 0, 0, ago_s=0)["bp"],
            "sys_mmHg": 40.0,
            "dia_mmHg": 35.0,
            "valid": False,
            "quality": ["implausible"],
        }
        await pub.vitals("chair-1", {"bp": bad})
        bp = f"{tile('chair-1')}.querySelectorAll('.vital')[0]"
        await page.until(f"!!{bp}.querySelector('.invalid')", 10, "the invalid BP shown")
        assert "132/84" in await page.js(f"{bp}.querySelector('.v').innerText")
        assert await page.js(due) == "BP overdue by 2 min"
