"""The station restarts while the broker is away, with a high alarm sounding on a page
(docs/station.md "Reconnecting"). The restarted station knows no chair until it reaches
the broker: its logins and its model lived in its memory. The page asks for a login over
its stale board, which goes on sounding; before, the `hello` of that login replaced the
board with the station's empty one: the last known alarm left the screen and its tone
became the technical one, with nothing to say which chair had been alarming."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.servers import Mosquitto, free_port
from tests.station.cdp import browser
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    alert,
    login_page,
    mqtt_login,
    station_config,
    station_process,
    tile,
)

HIGH = "window.__monitordAudio.current?.priority === 'high'"
STALE = "document.body.classList.contains('stale')"
LOGIN_SHOWN = "!document.getElementById('login-view').hidden"


async def test_a_login_to_a_station_without_broker_keeps_the_last_known_alarms(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, port=free_port())
    async with mqtt_login(mosquitto) as c:
        pub = ChairPublisher(c, mqtt_prefix)
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        await pub.chair("chair-2", [])
    async with browser() as b:
        page = await b.new_page()
        async with station_process(cfg, tmp_path / "s1.log") as (_, url):
            await login_page(page, url)
            await page.until(HIGH, 20, "high alarm sounding")
        await page.until(STALE, 15, "stale while the station is down")
        await asyncio.to_thread(mosquitto.stop)
        try:
            async with station_process(cfg, tmp_path / "s2.log") as (_, url):
                await page.until(LOGIN_SHOWN, 20, "the login form, the station back")
                await page.js("window.__oldHello = hello, true")  # the first station's
                await page.type_into("#login-name", "bob")
                await page.type_into("#login-pin", NURSES["bob"])
                await page.tap("#login-go")
                await page.until(f"!({LOGIN_SHOWN})", 20, "logged in")
                # The restarted station's hello has come; the board is not live.
                await page.until("hello !== window.__oldHello", 20, "the new station's hello")
                await page.screenshot(tmp_path / "relogin_no_broker.png")
                assert await page.js(STALE), "a station without broker looked live"
                has = await page.js(f"{tile('chair-1')} !== null")
                assert has, "the last known alarm's chair left the board at the login"
                assert await page.js(f"{tile('chair-1')}.classList.contains('p-high')")
                sound = await page.js("window.__monitordAudio.current")
                assert sound is not None and sound["priority"] == "high", (
                    f"the last known high alarm stopped sounding at the login: {sound}"
                )
        finally:
            await asyncio.to_thread(mosquitto.start)
        await page.close()
