"""A tile held under a finger (press.js: its redraw waits for the release, at most 1 s)
holds back nothing but its own redraw (docs/station.md "ACK"). Before: the alarm bar was
redrawn only from a tile's redraw, so a new alarm on the pressed chair was missing from
the always-on bar; the page receipted that alarm to its daemon as shown while its tile
still showed the old alerts; and a board rebuilt by a hello (a reconnect) while a tile was
pressed left that chair's tile off the board until the release, and then (the board
emptied and redrawn) the tap that was under way did nothing. The tests stand in for
the 1 s cap by stopping its timer: what is checked is what waits on the hold, not how
long. Real station, real mosquitto, real headless Chromium, trusted mouse events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import alert, session, station_page, tile, vitals

# Every receipt the page posts, as it posts it (the station's fetch, unchanged).
RECORD = (
    "window.__receipts = []; { const f = window.fetch; window.fetch = (p, o) => {"
    " if (p === '/api/receipt') window.__receipts.push(JSON.parse(o.body)); return f(p, o); }; }"
)


async def press(page: Page, chair: str, kind: str) -> None:
    at: dict[str, Any] = await page.until(
        f"(() => {{ const r = {tile(chair)}.querySelector('.name').getBoundingClientRect();"
        " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
        10,
        f"{chair}'s tile",
    )
    await page.send(
        "Input.dispatchMouseEvent", type=kind, x=at["x"], y=at["y"], button="left", clickCount=1
    )


async def hold(page: Page, chair: str) -> None:
    """A finger down on the chair's tile, held until released (the 1 s cap's timer stopped)."""
    await press(page, chair, "mousePressed")
    assert await page.js(f"press.chair === {chair!r} && (clearTimeout(press.timer), true)")


async def test_a_held_tile_holds_neither_the_alarm_bar_nor_the_receipt(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        await pub.chair("chair-1", [], sess=sess)
        await page.until(f"{tile('chair-1')}.innerText.includes('DOSING')", 20, "chair-1")
        await page.js(RECORD)
        await hold(page, "chair-1")
        crisis = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.active("chair-1", [crisis], sess)
        await pub.event("chair-1", crisis, "raised", level=0)
        got = f"__monitordShown.some((x) => x.alert_id === {crisis['alert_id']!r})"
        await page.until(f"chairs.get('chair-1').alerts.length === 1 && {got}", 10, "on page")
        assert await page.js("press.held") == "chair-1"  # the tile waits for the release
        # The bar is drawn with the message (only chair-1 is on the board: no other
        # tile's redraw draws the bar).
        bar = await page.js("document.getElementById('alarm-bar').innerText")
        assert "chair-1" in bar and "HIGH" in bar, bar
        # Another chair's alarm, shown and receipted after chair-1's: by then chair-1's
        # receipt was due, were it not waiting for its tile.
        medium = alert("chair-2", "hr.high", "medium", "HR 128 > 120 for 5 min")
        await pub.chair("chair-2", [medium], sess=sess)
        await pub.event("chair-2", medium, "raised", level=0)
        sent = "__receipts.map((r) => r.alert_id)"
        await page.until(f"{sent}.includes({medium['alert_id']!r})", 10, "chair-2's receipt")
        assert crisis["alert_id"] not in await page.js(sent)  # not drawn: not receipted
        assert "212/124" not in await page.js(f"{tile('chair-1')}.innerText")
        await press(page, "chair-1", "mouseReleased")
        await page.until(f"{sent}.includes({crisis['alert_id']!r})", 10, "receipted once drawn")
        assert "212/124" in await page.js(f"{tile('chair-1')}.innerText")
        mine = await page.js(f"__receipts.filter((r) => r.alert_id === {crisis['alert_id']!r})")
        assert [(r["event"], r["sounded"]) for r in mine] == [("raised", True)], mine


async def test_a_board_rebuilt_during_a_tap_keeps_the_tile_and_the_tap(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A hello (a reconnect: a dropped stream, the station restarted) between the press
    and the release of an ACK. Before, the hello emptied the board and drew every tile
    anew: the button pressed was gone at the release, and the ACK was not sent."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        crisis = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [crisis], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK' && !!{tile('chair-2')}", 20, "board")
        at: dict[str, Any] = await page.js(f"({BOX})({button})")
        await page.send(
            "Input.dispatchMouseEvent", type="mousePressed", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        assert await page.js("press.chair === 'chair-1' && (clearTimeout(press.timer), true)")
        # chair-2's tile marked: the hello redraws it (the held tile waits for the release).
        await page.js(f"{tile('chair-2')}.querySelector('.phase').textContent = 'OLD'")
        await page.js("window.__hello = hello; connect()")
        await page.until("hello !== window.__hello", 20, "a new hello")
        await page.until(f"!{tile('chair-2')}.innerText.includes('OLD')", 10, "chair-2 redrawn")
        assert await page.js(f"{tile('chair-1')}?.innerText.includes('212/124') ?? false")
        await page.send(
            "Input.dispatchMouseEvent", type="mouseReleased", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        await page.until(f"ackSent.has({crisis['alert_id']!r})", 10, "the tapped ACK sent")
        await page.until(f"{button}?.textContent === 'sent'", 10, "redrawn after the release")
        await page.screenshot(tmp_path / "tap_reconnect.png")


# A JS function: the middle of an element, in viewport coordinates.
BOX = (
    "(e) => { const r = e.getBoundingClientRect();"
    " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"
)


async def touch(page: Page, kind: str, at: dict[str, Any] | None) -> None:
    points = [] if at is None else [{"x": at["x"], "y": at["y"]}]
    await page.send("Input.dispatchTouchEvent", type=kind, touchPoints=points)


async def test_a_touchscreen_taps_ack_and_a_touch_that_scrolls_lets_go(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A wallboard with a touchscreen (Chromium's touch emulation: touch events, pointers
    of type touch, the click from the tap gesture): a reading during the tap does not lose
    the ACK, and a touch that becomes a scroll (pointercancel) ends the hold, the 1 s cap
    stopped."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(800, 500)) as (page, pub):
        await page.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)
        sess = session("dosing", "esketamine", 10)
        crisis = {i: alert(f"chair-{i}", "bp.crisis", "high", "BP 212/124") for i in range(1, 5)}
        for i, a in crisis.items():
            await pub.chair(f"chair-{i}", [a], sess=sess)
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"!!{tile('chair-4')} && {button}?.textContent === 'ACK'", 20, "board")
        at: dict[str, Any] = await page.js(f"({BOX})({button})")
        await touch(page, "touchStart", at)
        assert await page.js("press.chair === 'chair-1' && (clearTimeout(press.timer), true)")
        await pub.vitals("chair-1", vitals("chair-1", 150, 90, 91, 97))
        await page.until("chairs.get('chair-1').vitals.hr.hr_bpm === 91", 10, "the reading")
        await touch(page, "touchEnd", None)
        await page.until(f"ackSent.has({crisis[1]['alert_id']!r})", 10, "the touched ACK sent")
        await page.until(f"{tile('chair-1')}.innerText.includes('150/90')", 10, "redrawn")
        # A finger down on chair-2's tile that scrolls the board.
        at = await page.js(f"({BOX})({tile('chair-2')}.querySelector('.name'))")
        await touch(page, "touchStart", at)
        assert await page.js("press.chair === 'chair-2' && (clearTimeout(press.timer), true)")
        for dy in range(10, 200, 20):
            await touch(page, "touchMove", {"x": at["x"], "y": at["y"] - dy})
        await page.until("window.scrollY > 0", 10, "scrolled")
        await pub.vitals("chair-2", vitals("chair-2", 160, 95, 93, 97))
        await page.until(f"{tile('chair-2')}.innerText.includes('160/95')", 10, "not held")
        await touch(page, "touchEnd", None)


async def test_a_tap_is_not_lost_when_the_board_moves_under_it(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Between the press and the release of an ACK on chair-4 (second row), chair-1 (the
    row above) gets two more alarms and grows, and a banner shows above the board. Before,
    the board moved down under the finger, the release landed beside the button, and the
    ACK was not sent. The pressed tile now stays where it was until the release."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        for i in range(1, 4):
            await pub.chair(f"chair-{i}", [], sess=sess)
        crisis = alert("chair-4", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-4", [crisis], sess=sess)
        button = f"{tile('chair-4')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK'", 20, "board")
        y = f"{tile('chair-4')}.getBoundingClientRect().top"
        assert await page.js(f"{y} > {tile('chair-1')}.getBoundingClientRect().bottom")
        at: dict[str, Any] = await page.js(f"({BOX})({button})")
        await page.send(
            "Input.dispatchMouseEvent", type="mousePressed", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        assert await page.js("press.chair === 'chair-4' && (clearTimeout(press.timer), true)")
        before = await page.js(y)
        # What lies above chair-4: the header, banners and alarm bar, and chair-1's row.
        above = f"document.getElementById('top').offsetHeight + {tile('chair-1')}.offsetHeight"
        height = await page.js(above)
        more = [
            alert("chair-1", "hr.high", "medium", "HR 128 > 120 for 5 min"),
            alert("chair-1", "spo2.low", "low", "SpO2 93 < 94"),
        ]
        await pub.active("chair-1", more, sess)
        await page.until(f"{tile('chair-1')}.querySelectorAll('li.alert').length === 2", 10)
        await page.js("document.getElementById('gap-banner').hidden = false")  # one more line
        grown = await page.js(above) - height
        assert grown > 40, grown  # chair-4's place on the board is that much lower now
        await page.screenshot(tmp_path / "tap_pinned.png")  # chair-4 where it was
        await page.send(
            "Input.dispatchMouseEvent", type="mouseReleased", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        await page.until(f"ackSent.has({crisis['alert_id']!r})", 10, "the tapped ACK sent")
        await page.until(f"{tile('chair-4')}.querySelector('button.ack')?.textContent === 'sent'")
        await page.until(f"Math.abs({y} - {before + grown}) < 2", 10, "in its place again")
        await page.screenshot(tmp_path / "tap_moved.png")


async def test_a_tap_on_a_scrolled_board_stays_on_its_button(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The board taller than the screen, scrolled to chair-5 (third row); chair-1, above the
    screen, grows by two alarms while chair-5's ACK is pressed. The browser keeps what is on
    screen in place itself (scroll anchoring: it scrolls the page by the growth). Before,
    the page shifted the board back by the growth on top of that (it kept the tile's place
    on the page, not on the screen): the ACK moved 100 px up from under the finger, the
    release landed on chair-7's name, and the ACK was not sent."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix, size=(800, 600)) as (page, pub):
        sess = session("dosing", "esketamine", 10)
        crisis = alert("chair-5", "bp.crisis", "high", "BP 212/124 >= 180/110")
        for i in range(1, 8):
            await pub.chair(f"chair-{i}", [crisis] if i == 5 else [], sess=sess)
        button = f"{tile('chair-5')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK' && !!{tile('chair-7')}", 20, "board")
        await page.js(f"{tile('chair-5')}.scrollIntoView({{block: 'center'}})")
        assert await page.js(f"{tile('chair-1')}.getBoundingClientRect().bottom < 0")
        at: dict[str, Any] = await page.js(f"({BOX})({button})")
        await page.send(
            "Input.dispatchMouseEvent", type="mousePressed", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        assert await page.js("press.chair === 'chair-5' && (clearTimeout(press.timer), true)")
        more = [
            alert("chair-1", "hr.high", "medium", "HR 128 > 120 for 5 min"),
            alert("chair-1", "spo2.low", "low", "SpO2 93 < 94"),
        ]
        await pub.active("chair-1", more, sess)
        await page.until(f"{tile('chair-1')}.querySelectorAll('li.alert').length === 2", 10)
        under = f"document.elementFromPoint({at['x']}, {at['y']})"
        await page.until(f"{under} === {button}", 10, "the ACK still under the finger")
        await page.screenshot(tmp_path / "tap_scrolled.png")
        await page.send(
            "Input.dispatchMouseEvent", type="mouseReleased", x=at["x"], y=at["y"],
            button="left", clickCount=1,
        )  # fmt: skip
        await page.until(f"ackSent.has({crisis['alert_id']!r})", 10, "the tapped ACK sent")
