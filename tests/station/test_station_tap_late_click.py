"""A touchscreen tap's click comes after its release, and never ACKs another chair
(press.js, docs/station.md "ACK"). On a real touchscreen Chromium makes the click from
the tap gesture, an input event of its own after the pointerup, hit-tested then. Before,
the page let go of a pressed tile one task after the pointerup: the board, shifted to keep
the tile under the finger while the page above it changed, moved back, and the click
landed on what was then under the finger. Here the page above grows by one row of tiles
during a press of chair-4's ACK (second row), so that what lies under the finger once the
board is back is chair-1's ACK: the tap ACKed chair-1, another patient's alarm silenced.

The real order is modelled with Chromium's own touch events (trusted pointerdown and
pointerup), the tap gesture's click suppressed (touchend cancelled) and made by the test
at the finger's point, hit-tested with `document.elementFromPoint` one task after the
pointerup (or after the page let go). Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import alert, session, station_page, tile

ACK = "{t}.querySelector('button.ack')"
ACK1, ACK4 = ACK.format(t=tile("chair-1")), ACK.format(t=tile("chair-4"))
BOX = (
    "(e) => { const r = e.getBoundingClientRect();"
    " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"
)
# The click of a tap at (x, y), as Chromium makes it: hit-tested when it is made.
TAP_CLICK = (
    "(x, y) => { const e = document.elementFromPoint(x, y); window.__clicked = e.id;"
    " e.dispatchEvent(new PointerEvent('click', {bubbles: true, cancelable: true,"
    " composed: true, view: window, detail: 1, pointerType: 'touch', clientX: x, clientY: y}));"
    " return e.id; }"
)


@asynccontextmanager
async def pressed_while_the_page_moves(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, click_after_up: bool
) -> AsyncIterator[tuple[Page, dict[str, Any], dict[str, str]]]:
    """A finger on chair-4's ACK; the page above the board grows by the height of a row of
    tiles (chair-1's ACK lands where chair-4's was), the finger lifted. The tap's own
    click is cancelled; with `click_after_up` the test's is made one task after the
    pointerup. Yields the page, the finger's point and each chair's alert id."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await page.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)
        sess = session("dosing", "esketamine", 10)
        ids = {}
        for i in range(1, 5):  # chair-1 above chair-4, alike (one alarm each)
            a = alert(f"chair-{i}", "bp.crisis", "high", "BP 212/124 >= 180/110")
            ids[f"chair-{i}"] = a["alert_id"]
            await pub.chair(f"chair-{i}", [a] if i in (1, 4) else [], sess=sess)
        await page.until(f"{ACK1}?.textContent === 'ACK' && {ACK4}?.textContent === 'ACK'", 20)
        at: dict[str, Any] = await page.js(f"({BOX})({ACK4})")
        row = at["y"] - (await page.js(f"({BOX})({ACK1})"))["y"]
        assert row > 100, row
        # The tap gesture's click cancelled (its touchend cancelled), the test's made at
        # the finger's point in the next task: one task after the pointerup's listeners.
        click = f"setTimeout(() => ({TAP_CLICK})({at['x']}, {at['y']}), 0);"
        then = click if click_after_up else ""
        await page.js(
            "document.addEventListener('touchend', (e) => {"
            f" e.preventDefault(); {then} }}, {{once: true, passive: false}})"
        )
        await page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[at])
        # The 1 s cap's timer stopped (a slow machine): the release is what is tested.
        assert await page.js("press.chair === 'chair-4' && (clearTimeout(press.timer), true)")
        # A banner shown above the board, of the height of a row of tiles.
        grow = (
            "(() => { const top = document.getElementById('top'), b ="
            " document.getElementById('gap-banner'), h = top.offsetHeight; b.hidden = false;"
            f" b.style.boxSizing = 'border-box'; const g = top.offsetHeight - h;"
            f" b.style.height = `${{b.offsetHeight + {row} - g}}px`;"
            " return top.offsetHeight - h; })()"
        )
        assert abs(await page.js(grow) - row) < 1
        under = f"document.elementFromPoint({at['x']}, {at['y']})"
        await page.until(f"{under} === {ACK4}", 10, "chair-4's ACK kept under the finger")
        await page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        yield page, at, ids


async def test_a_tap_clicked_after_its_release_acks_the_chair_pressed(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Before: the click, one task after the pointerup, landed on chair-1's ACK."""
    async with pressed_while_the_page_moves(tmp_path, mosquitto, mqtt_prefix, True) as got:
        page, at, ids = got
        await page.until("window.__clicked !== undefined", 10, "the tap's click")
        assert await page.js("window.__clicked") == f"ack:chair-4:{ids['chair-4']}"
        assert await page.js(f"ackSent.has({ids['chair-4']!r})"), "the ACK tapped not sent"
        assert not await page.js(f"ackSent.has({ids['chair-1']!r})"), "chair-1 ACKed"
        # Then let go: the board back in its place, chair-1's ACK where the finger was.
        board = "document.getElementById('board')"
        await page.until(f"!press.tile && {board}.style.transform === ''", 10, "let go")
        await page.until(
            f"document.elementFromPoint({at['x']}, {at['y']}) === {ACK1}", 10, "board back"
        )
        await page.screenshot(tmp_path / "late_click_back.png")
        assert await page.js("[...ackSent.keys()]") == [ids["chair-4"]]


async def test_a_click_after_the_page_let_go_acks_nothing(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """No click within the wait: the board comes back, and a click that comes later still
    (the tile redrawn, chair-1's ACK under the finger) is dropped. Before, it ACKed
    chair-1. A mouse's tap on chair-1's ACK then is not."""
    async with pressed_while_the_page_moves(tmp_path, mosquitto, mqtt_prefix, False) as got:
        page, at, ids = got
        board = "document.getElementById('board')"
        await page.until(f"!press.tile && {board}.style.transform === ''", 10, "let go")
        hit = await page.js(f"({TAP_CLICK})({at['x']}, {at['y']})")
        assert hit == f"ack:chair-1:{ids['chair-1']}"  # the late click hit chair-1's ACK
        assert await page.js("ackSent.size") == 0, await page.js("[...ackSent.keys()]")
        await page.send("Emulation.setTouchEmulationEnabled", enabled=False)
        await page.tap(".tile[data-chair='chair-1'] button.ack")
        await page.until(f"ackSent.has({ids['chair-1']!r})", 10, "a mouse's tap sent")
        assert await page.js("ackSent.size") == 1
        await page.screenshot(tmp_path / "late_click_dropped.png")
