"""*Log out* pressed while the station does not answer (the tablet off the Wi-Fi for a
moment, docs/station.md "Security"): the login goes on in the station and in the browser
(its cookie), so the page must not show it ended. Before, the page emptied the screen and
showed the login form as after any Log out; a reload of the tab (the next nurse's, once
the Wi-Fi was back) came up on the board under the first nurse's name, and every ACK from
it went out in her name. Now the board stays, the button says the log out failed, and a
tap once the station answers ends the login there: a reload then asks a login. Real
station, real mosquitto, real headless Chromium (its network switched off by CDP's
network emulation, as a Wi-Fi drop does it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import login_page, station_and_browser

BOARD = "!document.getElementById('board').hidden"
FORM = "!document.getElementById('login-view').hidden"
BUTTON = "document.getElementById('logout').textContent"


async def network(page: Page, offline: bool) -> Any:
    return await page.send(
        "Network.emulateNetworkConditions",
        offline=offline,
        latency=0,
        downloadThroughput=-1,
        uploadThroughput=-1,
    )


async def test_a_log_out_the_station_never_got_is_not_shown_as_done(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as s:
        page = await s.browser.new_page()
        await login_page(page, s.url, "alice")
        await page.send("Network.enable")
        await network(page, offline=True)
        await page.tap("#logout")
        said = await page.until(f"{BUTTON}.includes('failed') && {BUTTON}", 10, "log out failed")
        assert await page.js(BOARD) is True and await page.js(FORM) is False, said
        assert await page.js("document.getElementById('nurse').textContent") == "nurse: alice"
        await page.screenshot(tmp_path / "logout-failed.png")
        # Back on the network: the next tap ends the login in the station.
        await network(page, offline=False)
        await page.tap("#logout")
        await page.until(FORM, 10, "logged out")
        await page.goto(s.url + "/")
        await page.until(FORM, 20, "a reload asks a login")
        assert await page.js(BOARD) is False
        await page.close()
