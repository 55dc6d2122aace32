"""`[site] timezone` against the station's browser: each name check-config accepts is one
the station page's Chromium knows (a name it does not know left the board in UTC, and
'localtime' or 'posix/Europe/Berlin', accepted before, left it empty), and each zone name
Python knows stays accepted (Asia/Calcutta, US/Eastern, Etc/GMT+5: a config that ran
before and is refused on an upgrade stops the daemon). Every name Python's zone database
has, and its files that are no zone's name, tried in a real headless Chromium as the page
does (`new Intl.DateTimeFormat(..., {timeZone})`)."""

from __future__ import annotations

import json
import zoneinfo

from pydantic import ValidationError

from monitord.config import SiteConfig
from tests.station.cdp import browser

# What Python loads that is no zone's name: the machine's zone, the database's own
# placeholder and rules file; and the same zones again under posix/ and right/.
NOT_NAMES = {"localtime", "Factory", "posixrules"}


def _accepted(name: str) -> bool:
    try:
        SiteConfig(id="clinic", timezone=name)
    except ValidationError:
        return False
    return True


async def test_each_zone_accepted_is_known_to_the_station_browser() -> None:
    names = sorted(zoneinfo.available_timezones() - NOT_NAMES)
    files = ["localtime", "posixrules", "posix/Europe/Berlin", "right/UTC", "posix/UTC"]
    async with browser() as b:
        page = await b.new_page()
        known = await page.js(
            "(names => names.filter(n => { try {"
            " new Intl.DateTimeFormat('en-US', {timeZone: n}); return true;"
            " } catch (e) { return false; } }))(" + json.dumps(names + files) + ")"
        )
    assert len(names) > 400  # the whole database, not a few names
    assert [n for n in names if not _accepted(n)] == []
    accepted = [n for n in names + files if _accepted(n)]
    assert [n for n in accepted if n not in known] == []
    assert [n for n in files if _accepted(n)] == []
