"""Two tabs of one browser on the station (a tablet, a nurse's PC): they share its login
cookie, so a login or log out in one is the other's too (docs/station.md "Reconnecting").
Real station, real mosquitto, real headless Chromium with two tabs.

- One tab logs out while the other shows a high alarm: the tab logged out is emptied and
  silent (only *Log out* does that), the other keeps its board, stale and sounding, under
  the login form. Before, that form said "Login expired", a wrong reason minutes into a
  login: a nurse could take the station's logins for broken.
- Another tab logs in (as another nurse): the browser's cookie is now that login's, and
  this tab's commands carry the old login's CSRF token: refused 403. Before, the tab went
  on as if logged in: its header named the nurse before, its ACK read "not sent, retry"
  at every tap, for ever, and its receipts were refused (the daemon told nobody saw the
  alarm). Now the tab asks a login over its board, which stays stale and sounding.
- The same nurse logs in again in another tab: this tab takes on her new login and goes
  on; its refused command is sent again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import (
    NURSES,
    Proc,
    alert,
    login_page,
    station_and_browser,
    tile,
)

HIGH = "window.__monitordAudio.current?.priority === 'high'"
SILENT = "window.__monitordAudio.current === null"
STALE = "document.body.classList.contains('stale')"
LOGIN_SHOWN = "!document.getElementById('login-view').hidden"
BOARD_SHOWN = "!document.getElementById('board').hidden"
LOGIN_SAYS = "document.getElementById('login-error').textContent"

ACK = ".tile[data-chair='chair-1'] button.ack"
SENT = f"{tile('chair-1')}.querySelector('button.ack')?.textContent === 'sent'"


@contextlib.asynccontextmanager
async def two_tabs(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str
) -> AsyncIterator[tuple[Page, Page, Proc]]:
    """chair-1's crisis sounding on tab one (alice logged in), then tab two opened on the
    browser's login (no PIN asked): the tabs and the station's process."""
    async with station_and_browser(tmp_path, mosquitto, prefix) as (_, pub, station, url, b):
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        one, two = await b.new_page(), await b.new_page()
        await login_page(one, url, "alice")
        await one.until(HIGH, 20, "high alarm sounding")
        await two.goto(url + "/")
        await two.until(BOARD_SHOWN, 20, "tab two logged in by the shared login")
        yield one, two, station
        await one.close()
        await two.close()


async def log_in_as(page: Page, nurse: str) -> None:
    """`nurse` logs in on `page` as its login form does (the same request): the browser's
    cookie is now that login's."""
    status = await page.js(
        "fetch('/api/login', {method: 'POST', credentials: 'same-origin',"
        " headers: {'Content-Type': 'application/json'},"
        f" body: JSON.stringify({{name: '{nurse}', pin: '{NURSES[nurse]}'}})}})"
        ".then((r) => r.status)"
    )
    assert status == 200


async def test_a_log_out_in_one_tab_leaves_the_other_sounding_and_says_why(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with two_tabs(tmp_path, mosquitto, mqtt_prefix) as (one, two, _):
        await two.until(HIGH, 20, "high alarm sounding on tab two")
        await one.tap("#logout")
        await one.until(f"{LOGIN_SHOWN} && !{BOARD_SHOWN}", 20, "tab one logged out")
        assert await one.js(SILENT)
        await two.until(LOGIN_SHOWN, 20, "tab two asks a login, its login ended")
        await two.screenshot(tmp_path / "other_tab_logged_out.png")
        assert await two.js(BOARD_SHOWN)
        assert await two.js(STALE)
        assert await two.js(HIGH)
        assert await two.js(f"{tile('chair-1')}.classList.contains('p-high')")
        msg = await two.js(LOGIN_SAYS)
        # The stream's `logout` says it was a log out; a POST answered 401 first, that
        # it may have been.
        assert "logged out on another tab" in msg.lower() and "NOT LIVE" in msg, msg


async def test_a_login_replaced_in_another_tab_asks_a_login_not_a_silent_retry(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with two_tabs(tmp_path, mosquitto, mqtt_prefix) as (one, two, _):
        # bob logs in on tab two: alice's tab still has its stream and her token.
        await log_in_as(two, "bob")
        await one.tap(ACK)
        await one.until(LOGIN_SHOWN, 20, "tab one asks a login, its login replaced")
        await one.screenshot(tmp_path / "login_replaced.png")
        msg = await one.js(LOGIN_SAYS)
        assert "another" in msg and "NOT LIVE" in msg, msg
        assert await one.js(BOARD_SHOWN)
        assert await one.js(HIGH)
        assert await one.js(STALE)
        # Logged in again, alice's ACK goes out (as hers) and the page is live.
        await one.type_into("#login-name", "alice")
        await one.type_into("#login-pin", NURSES["alice"])
        await one.tap("#login-go")
        await one.until(f"!{STALE} && !{LOGIN_SHOWN}", 20, "live again after the login")
        await one.tap(ACK)
        await one.until(SENT, 20, "the ACK sent")


async def test_a_login_replaced_in_another_tab_is_not_taken_over_at_a_reconnect(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The tab's stream given up by the browser (an error answer: `es` closed here) has
    the page ask the station for its login again (`/api/me`), which answers with the
    login the cookie now holds: bob's, logged in on the other tab. Before, the page took
    that login's token and went on with alice in its header: its ACK went out as bob's
    (the station names the cookie's nurse). Now a login of another nurse is a login
    replaced: the tab asks a login over its board."""
    async with two_tabs(tmp_path, mosquitto, mqtt_prefix) as (one, two, station):
        await log_in_as(two, "bob")
        await one.js("es.close()")  # as the browser does at an error answer
        await one.until(LOGIN_SHOWN, 20, "tab one asks a login, its login replaced")
        msg = await one.js(LOGIN_SAYS)
        assert "another" in msg and "NOT LIVE" in msg, msg
        assert await one.js(HIGH)
        assert "nurse: alice" in await one.js("document.getElementById('nurse').textContent")
        assert "bob acknowledges" not in station.output()


async def test_the_same_nurse_logging_in_again_in_another_tab_leaves_this_tab_working(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """alice logs in again on the other tab (after a station restart both tabs ask a
    login; she answers one, then the other): the browser's cookie is her new login, this
    tab's token her old one's. Before, this tab's ACK was refused (403) and the tab asked
    her PIN again, saying another login replaced hers; her login there replaced the other
    tab's in turn, whose next ACK was refused alike: two tabs of one nurse took turns
    asking a PIN and dropping ACKs. Now the tab takes on the browser's login when it is
    its own nurse's (as it does at a reconnect) and its ACK goes out, as hers."""
    async with two_tabs(tmp_path, mosquitto, mqtt_prefix) as (one, two, station):
        await log_in_as(two, "alice")
        await one.tap(ACK)
        await one.until(SENT, 20, "the ACK sent")
        await one.screenshot(tmp_path / "same_nurse_again.png")
        assert not await one.js(LOGIN_SHOWN)
        assert not await one.js(STALE)
        assert "alice acknowledges" in station.output()
