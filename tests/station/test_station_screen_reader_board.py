"""What a screen reader is told of a board shown anew (docs/station.md "Keyboard and screen
reader"): the page opened, or a login after a Log out, with chairs already in alarm. Read
from the page's live regions, real station, real mosquitto, real headless Chromium.
Before, each alarm already on the board was said as it came in the stream's first
message, as "new" (raised 20 min before): a station opened on a ward with a dozen chairs in
alarm queued a dozen lines, the reader busy with them for minutes and the next real new
alarm behind them; and a login after a Log out said nothing at all (those alarms were
told before). Now one line says what is on the board; only what comes after is said one
by one, and a reconnect's first message (the board kept) says only what came meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import (
    NURSES,
    alert,
    login_page,
    session,
    station_and_browser,
)

SAID = "window.__monitordSaid.map((s) => (s.urgent ? '! ' : '') + s.text)"


async def test_a_board_shown_anew_is_said_in_one_line(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix) as (_, pub, _, url, b):
        dosing = session("dosing", "esketamine", 20)
        for i in range(1, 13):
            await pub.chair(
                f"c-{i}", [alert(f"c-{i}", "spo2.low", "high", "SpO2 86 < 90")], sess=dosing
            )
        await pub.chair("c-13", [alert("c-13", "bp.high", "medium", "BP 165/95")], sess=dosing)
        await pub.chair("c-14", [], online=False, sess=dosing)  # the technical tone
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until("document.querySelectorAll('.tile').length === 14", 20, "14 tiles")
        board = ["! 13 alarms active: 12 high, 1 medium; 1 chair OFFLINE, not monitored"]
        # A new alarm after: said by itself, and after everything said of the board.
        new = alert("c-15", "hr.low", "low", "HR 48 < 50")
        await pub.chair("c-15", [new], sess=dosing)
        await page.until(f"{SAID}.includes('c-15: new LOW alarm: HR 48 < 50')", 10, "said")
        assert await page.js(SAID) == [*board, "c-15: new LOW alarm: HR 48 < 50"]
        # The stream again (as the page does when it hears nothing): the same alarms
        # re-listed in its first message are not said again.
        await page.js("window.__monitordSaid.length = 0; es.close(); connect(); true")
        await page.until("streamUp", 10, "stream up again")
        more = alert("c-16", "hr.low", "low", "HR 47 < 50")
        await pub.chair("c-16", [more], sess=dosing)
        await page.until(f"{SAID}.includes('c-16: new LOW alarm: HR 47 < 50')", 10, "said")
        assert await page.js(SAID) == ["c-16: new LOW alarm: HR 47 < 50"]
        # Logged out and in again (another nurse): the board shown anew, said anew.
        await page.js("window.__monitordSaid.length = 0; true")
        await page.tap("#logout")
        await page.until("!document.getElementById('login-view').hidden", 10, "login form")
        await page.type_into("#login-name", "bob")
        await page.type_into("#login-pin", NURSES["bob"])
        await page.tap("#login-go")
        await page.until("!document.getElementById('board').hidden", 20, "logged in")
        await page.until("document.querySelectorAll('.tile').length === 16", 20, "16 tiles")
        await page.until(f"{SAID}.length > 0", 10, "said")
        assert await page.js(SAID) == [
            "! 15 alarms active: 12 high, 1 medium, 2 low; 1 chair OFFLINE, not monitored"
        ]
        await page.close()
