"""Two quick taps on two tiles: the second finger down before the first tap's click
(press.js, docs/station.md "ACK"). A touchscreen's click comes after its release, made
from the tap gesture; a nurse's second tap on another tile can go down before it. Before,
the page checked every click against the LAST press only: the first tap's click, on the
very ACK its finger pressed, was taken for a click landed away from its press and dropped
(the ACK not sent); and it let go of the second tile, whose finger was still down, so
that tile's redraw was no longer held under it. A click is now checked against its own
pointer's press (Chromium gives a tap's click the pointerId of its touch), and only the
pressing pointer's click lets go of the pressed tile. And a tap again on a tile still held
by a press that made no click (a long press) is sent: the new press no longer redraws the
tile under its own finger.

The tap gesture's click is cancelled (its touchend cancelled) and made by the test, at the
finger's point, with that touch's pointerId, after the second touch is down. Real station,
real mosquitto, real headless Chromium, trusted touch events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

ACK1 = f"{tile('chair-1')}.querySelector('button.ack')"
NAME2 = f"{tile('chair-2')}.querySelector('.name')"
BOX = (
    "(e) => { const r = e.getBoundingClientRect();"
    " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"
)
# Each pointerdown's pointerId, in order.
IDS = (
    "window.__ids = []; document.addEventListener('pointerdown',"
    " (e) => window.__ids.push(e.pointerId), true);"
)
# The click of a tap at (x, y) by pointer `id`, as Chromium makes it: hit-tested then.
TAP_CLICK = (
    "(x, y, id) => { const e = document.elementFromPoint(x, y);"
    " e.dispatchEvent(new PointerEvent('click', {bubbles: true, cancelable: true,"
    " composed: true, view: window, detail: 1, pointerType: 'touch', pointerId: id,"
    " clientX: x, clientY: y})); return e.id; }"
)


async def test_a_tap_clicked_after_the_next_finger_is_down_is_sent(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await page.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)
        sess = session("dosing", "esketamine", 10)
        a1 = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a1], sess=sess)
        await pub.chair("chair-2", [], sess=sess)
        await page.until(f"{ACK1}?.textContent === 'ACK' && {NAME2} !== null", 20)
        at1: dict[str, Any] = await page.js(f"({BOX})({ACK1})")
        at2: dict[str, Any] = await page.js(f"({BOX})({NAME2})")
        await page.js(IDS)
        # The first tap's own click cancelled: the test makes it once the second is down.
        await page.js(
            "document.addEventListener('touchend', (e) => e.preventDefault(),"
            " {once: true, passive: false})"
        )
        await page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[at1])
        await page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        await page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[at2])
        assert await page.js("press.chair === 'chair-2' && (clearTimeout(press.timer), true)")
        first = (await page.js("window.__ids"))[0]
        hit = await page.js(f"({TAP_CLICK})({at1['x']}, {at1['y']}, {first})")
        assert hit == f"ack:chair-1:{a1['alert_id']}"  # on the ACK its finger pressed
        await page.until(f"ackSent.has({a1['alert_id']!r})", 10, "chair-1's ACK sent")
        # The second finger, still down, still holds its tile.
        assert await page.js("press.chair") == "chair-2"
        await page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        await page.until("!press.tile", 10, "let go")
        await page.screenshot(tmp_path / "two_taps.png")
        assert await page.js("[...ackSent.keys()]") == [a1["alert_id"]]


async def test_a_tap_again_after_a_press_with_no_click_is_sent(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A press with no click (a long press; here its click cancelled), a reading of its
    chair meanwhile (the tile's redraw held), then at once a tap on that tile's ACK.
    Before, the second press let go of the first in its pointerdown: the tile was redrawn
    under the finger, the ACK pressed gone, and its click dropped (the ACK not sent)."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await page.send("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=5)
        sess = session("dosing", "esketamine", 10)
        a1 = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a1], sess=sess)
        await page.until(f"{ACK1}?.textContent === 'ACK'", 20)
        name: dict[str, Any] = await page.js(f"({BOX})({tile('chair-1')}.querySelector('.name'))")
        at: dict[str, Any] = await page.js(f"({BOX})({ACK1})")
        await page.js(
            "document.addEventListener('touchend', (e) => e.preventDefault(),"
            " {once: true, passive: false})"
        )
        await page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[name])
        assert await page.js("press.chair === 'chair-1' && (clearTimeout(press.timer), true)")
        await pub.active("chair-1", [a1], sess)
        await page.until("press.held === 'chair-1'", 10, "chair-1's redraw held")
        await page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        # The wait for a click that does not come stopped (a slow machine): what follows
        # is a tap within it.
        assert await page.js("press.tile !== null && (clearTimeout(press.timer), true)")
        await page.send("Input.dispatchTouchEvent", type="touchStart", touchPoints=[at])
        await page.send("Input.dispatchTouchEvent", type="touchEnd", touchPoints=[])
        await page.until(f"ackSent.has({a1['alert_id']!r})", 10, "the ACK tapped sent")
        await page.until("!press.tile && press.held === null", 10, "let go")
        await page.screenshot(tmp_path / "tap_again.png")
