"""A `[site] timezone` the station's browser does not know: time zone names are added
now and then (Europe/Kyiv, America/Ciudad_Juarez in 2022), and a wallboard's Chromium of an
older build lacks them. `Intl.DateTimeFormat` threw a RangeError in the page's hello
handler: the board stayed empty (no clock, no chairs, no alarms). The board is now drawn,
its times in UTC, named on each time and, in the header, that the zone is not known here
(docs/station.md). Real station, real mosquitto, real headless Chromium (in a German
locale and another zone, as the clinic's tablet); the old build is the one thing played:
its Intl refuses the site's zone as such a build's does.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import TZ, station_page, tile

OLD_BUILD = (
    "{ const Real = Intl.DateTimeFormat;"
    " Intl.DateTimeFormat = function (loc, o) {"
    f"   if (o && o.timeZone === {TZ!r})"
    "     throw new RangeError('Invalid time zone specified: ' + o.timeZone);"
    "   return new Real(loc, o); };"
    " Intl.DateTimeFormat.prototype = Real.prototype; }"
)


async def test_a_zone_the_browser_does_not_know_leaves_the_board_drawn_in_utc(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await page.send("Emulation.setTimezoneOverride", timezoneId="Asia/Kolkata")
        await page.send("Emulation.setLocaleOverride", locale="de-DE")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=OLD_BUILD)
        await page.goto(await page.js("location.href"))
        await pub.status("chair-1", "online")
        await pub.vitals("chair-1", {})
        clock = await page.until(
            "document.getElementById('clock').textContent"
            " && [document.getElementById('clock').textContent]",
            10,
            "the header clock",
        )
        assert re.fullmatch(r"\d\d:\d\d UTC", clock[0]), clock
        site = await page.js("document.getElementById('site').textContent")
        assert site.endswith(f"{TZ} (not known to this browser: times in UTC)"), site
        await page.until(f"{tile('chair-1')} !== null", 10, "chair-1's tile")
        await page.screenshot(tmp_path / "unknown-zone.png")
