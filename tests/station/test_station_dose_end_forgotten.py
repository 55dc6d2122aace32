"""A Dose end not recorded (docs/station.md "Session controls"). `session.discharge_ready`
is judged in `observation` only, which starts at `dose_end` (clinical-rules.md). Before, an
esketamine chair left in DOSING read "observation time met" from dose + 120 min on and was
never discharge-ready, the page not saying why; an iv-ketamine chair showed no observation
clock at all (its 60 min count from the dose end). Now a chair in DOSING says so on its
session line. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import session, station_page, tile


async def test_a_chair_left_in_dosing_says_what_dose_end_is_needed_for(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 125))
        iv_sess = session("dosing", "iv-ketamine", 50)
        iv_sess["observation_met"] = None  # as the daemon: counted from a dose end to come
        await pub.chair("chair-2", [], sess=iv_sess)
        await pub.chair("chair-3", [], sess=session("observation", "esketamine", 125))
        got: dict[str, str] = {}
        for chair in ("chair-1", "chair-2", "chair-3"):
            line = f"{tile(chair)}?.querySelector('.phase')?.textContent"
            got[chair] = await page.until(f"{line}?.includes('dose +') && {line}", 20, chair)
        esk, iv, obs = got["chair-1"], got["chair-2"], got["chair-3"]
        assert esk.startswith("DOSING") and "observation time met" in esk, esk
        assert esk.endswith(" · not discharge-ready before Dose end"), esk
        assert iv.startswith("DOSING") and iv.endswith(" · observation starts at Dose end"), iv
        assert "observation met" not in iv, iv
        # In observation the Dose end is recorded: nothing of it is said.
        assert obs.startswith("OBSERVATION") and "Dose end" not in obs, obs
