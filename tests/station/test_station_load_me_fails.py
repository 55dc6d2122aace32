"""A page whose first ask of its login (`/api/me`) finds no station (a wallboard PC booted
with its Wi-Fi still coming up, the station restarting between the page's files and that
ask, a tablet's weak Wi-Fi): the page goes on asking and shows the login form (or the
board, for a login still held) once the station answers, saying meanwhile that it does not.
Before, the failed ask ended the page's start: no login form, no board, no banner, no
sound, for as long as nobody reloaded it. Real station, real headless Chromium; the fault
is a TCP proxy that drops the connection of each `/api/me` while told to."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.proxy_kit import StationProxy, proxied_station
from tests.station.station_kit import NURSES, login_page

LOGIN_SHOWN = "!document.getElementById('login-view').hidden"
ERROR = "document.getElementById('login-error')"
BOARD_SHOWN = "!document.getElementById('board').hidden"


class MeDroppingProxy(StationProxy):
    """Forwards to the station; while `dropping`, a request for /api/me or /api/login has
    its connection closed unanswered (the browser's fetch fails, as with no station on the
    network), or with `hang`, held open unanswered until the browser gives up on it (a
    station that takes the connection and answers nothing: hung, or a proxy holding it)."""

    def __init__(self, target_port: int, hang: bool = False) -> None:
        super().__init__(target_port)
        self.dropping = True
        self.hang = hang
        self.dropped = 0

    async def _pump(
        self, r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool, held: asyncio.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await r.read(65536):
                if up and self.dropping and (b"GET /api/me" in data or b"/api/login" in data):
                    self.dropped += 1
                    if self.hang:  # nothing sent on, nothing answered, until the browser closes
                        held.set()
                        while await r.read(65536):
                            pass
                    break
                w.write(data)
                await w.drain()
        if up or not held.is_set():  # a held one stays open when the station's side closes
            w.close()

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)
        held = asyncio.Event()
        up = asyncio.ensure_future(self._pump(cr, sw, True, held))
        down = asyncio.ensure_future(self._pump(sr, cw, False, held))
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        if held.is_set():
            await asyncio.wait([up])
        for t in (up, down):
            t.cancel()
        cw.close()
        sw.close()


async def test_a_page_whose_first_login_check_fails_asks_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with proxied_station(tmp_path, mosquitto, mqtt_prefix, MeDroppingProxy) as (
        proxy,
        url,
        b,
    ):
        page = await b.new_page()
        proxy.dropping = False
        await login_page(page, url, "alice")
        # The wallboard reloaded (its PC rebooted) while the station cannot be reached,
        # its login still held in the browser.
        proxy.dropping = True
        await page.goto(url + "/")
        said = await page.until(f"{LOGIN_SHOWN} && {ERROR}.textContent", 20, "said")
        assert proxy.dropped >= 1 and "does not answer" in said, (proxy.dropped, said)
        proxy.dropping = False
        # The board again, under the login held, with nobody at the PC.
        await page.until(BOARD_SHOWN, 20, "the board, once the station answers")
        assert await page.js(LOGIN_SHOWN) is False
        assert await page.js("document.getElementById('nurse').textContent") == "nurse: alice"
        await page.screenshot(tmp_path / "board_after_retry.png")
        await page.close()


async def test_a_fresh_page_shows_the_login_form_once_the_station_answers(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with proxied_station(tmp_path, mosquitto, mqtt_prefix, MeDroppingProxy) as (
        proxy,
        url,
        b,
    ):
        page = await b.new_page()
        await page.goto(url + "/")
        said = await page.until(f"{LOGIN_SHOWN} && {ERROR}.textContent", 20, "said")
        assert proxy.dropped >= 1 and "does not answer" in said, (proxy.dropped, said)
        # A login tapped meanwhile says so too (before: nothing, as if the tap was lost).
        await page.js(f"{ERROR}.textContent = ''; 1")
        await page.type_into("#login-name", "alice")
        await page.type_into("#login-pin", NURSES["alice"])
        await page.tap("#login-go")
        said = await page.until(f"{ERROR}.textContent", 20, "the login not answered")
        assert "does not answer" in said, said
        proxy.dropping = False
        await page.until(f"{LOGIN_SHOWN} && {ERROR}.textContent === ''", 20, "the login form")
        await page.close()


async def test_a_page_whose_first_login_check_is_never_answered_asks_again(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The station takes the connection of the first ask and answers nothing. Before, the
    page waited on it for as long as it was held: blank, no form, no board, nothing said."""
    async with proxied_station(
        tmp_path, mosquitto, mqtt_prefix, lambda port: MeDroppingProxy(port, hang=True)
    ) as (
        proxy,
        url,
        b,
    ):
        page = await b.new_page()
        proxy.dropping = False
        await login_page(page, url, "alice")
        proxy.dropping = True  # the wallboard reloaded, its first ask held unanswered
        await page.goto(url + "/")
        said = await page.until(f"{LOGIN_SHOWN} && {ERROR}.textContent", 30, "said")
        assert proxy.dropped >= 1 and "does not answer" in said, (proxy.dropped, said)
        proxy.dropping = False
        await page.until(BOARD_SHOWN, 40, "the board, once the station answers")
        assert await page.js("document.getElementById('nurse').textContent") == "nurse: alice"
        await page.close()
