"""The station page with the keyboard alone (a nurse whose mouse is broken, a keyboard cart
without a trackpad; docs/station.md "Keyboard and screen reader"): an ACK pressed with
Enter, a session command's confirmation closed with Escape or confirmed with Enter, and
where the focus is after each. Real station, real mosquitto, real headless Chromium, keys
as trusted key events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Mosquitto
from tests.station.contrast import AT_PHASE, RESUME, RING
from tests.station.keys import focused, press, tab_to
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    alert,
    session,
    station_page,
    tile,
    vitals,
)

FORCED = [{"name": "forced-colors", "value": "active"}]


def by_id(i: str) -> str:
    return f"[id={json.dumps(i)}]"


@contextlib.asynccontextmanager
async def commands(pub: ChairPublisher, chair: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The session commands the station sends to `chair`, as its daemon would hear them."""
    got: list[dict[str, Any]] = []
    pattern = pub.topic(chair, "cmd/session")
    await pub.client.subscribe(pattern, qos=1)

    async def read() -> None:
        async for msg in pub.client.messages:
            if msg.topic.matches(pattern):
                assert isinstance(msg.payload, bytes)
                got.append(json.loads(msg.payload))

    reader = asyncio.create_task(read())
    try:
        yield got
    finally:
        reader.cancel()


async def test_an_ack_pressed_with_enter_keeps_the_focus_on_its_chair(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Enter on an ACK: the button turns "sending…", then "sent", both disabled, and the
    tile is redrawn. Before, the focus went to the page's body with the button it was on:
    the next Tab started again at the header's Audio pause, the chair and its controls
    lost, a screen reader saying nothing at all. Now it stays on the chair's tile, and the
    next Tab reaches the chair's own controls."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("c-1", "spo2.low", "high", "SpO2 86 < 90 for 15 s")
        await pub.chair("c-1", [a], sess=session("baseline", "esketamine", None))
        ack = by_id(f"ack:c-1:{a['alert_id']}")
        await page.until(f"!!document.querySelector({json.dumps(ack)})", 20, "the ACK")
        await tab_to(page, ack)
        await press(page, "Enter")
        await page.until(
            f"/sen/.test(document.querySelector({json.dumps(ack)}).textContent)", 10, "sent"
        )
        # A reading redraws the tile once more, the button still disabled.
        await pub.vitals("c-1", vitals("c-1", 125, 80, 70, 97, 0))
        await page.until(f"{tile('c-1')}.querySelector('.v').textContent === '125/80'", 10)
        assert await page.js(f"{tile('c-1')}.contains(document.activeElement)"), await focused(page)
        await press(page, "Tab")
        assert await focused(page) == "cmd:c-1:dose_start"


async def test_a_confirmation_escaped_acts_not_and_gives_the_focus_back(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Dose start with Enter, its confirmation closed with Escape: nothing sent, and the
    focus back on Dose start, also when a reading redrew the tile behind the dialog (the
    button that opened it replaced). Before, the browser gave the focus back to the button
    gone and it fell to the page's body. Then Dose start again, confirmed with Enter in
    its dose field: one command sent, the dialog closed, the focus on the chair."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("c-2", [], sess=session("baseline", "esketamine", None))
        start = by_id("cmd:c-2:dose_start")
        async with commands(pub, "c-2") as sent:
            await tab_to(page, start)
            await page.js("window.__opener = document.activeElement; true")
            await press(page, "Enter")
            await page.until("document.getElementById('confirm').open", 10, "the dialog")
            in_dialog = "document.getElementById('confirm').contains(document.activeElement)"
            assert await page.js(in_dialog)
            await pub.vitals("c-2", vitals("c-2", 126, 80, 70, 97, 0))
            await page.until("!window.__opener.isConnected", 10, "the tile redrawn")
            await press(page, "Escape")
            await page.until("!document.getElementById('confirm').open", 10, "closed")
            # (the dialog's close event is a task after it closed)
            back = "document.activeElement.id === 'cmd:c-2:dose_start'"
            await page.until(back, 10, f"focus on Dose start, not {await focused(page)}")
            await press(page, "Enter")
            await page.until("document.getElementById('confirm').open", 10, "the dialog again")
            assert await focused(page) == "confirm-dose"
            await press(page, "Enter")  # the form's Confirm
            await page.until("!document.getElementById('confirm').open", 10, "confirmed")
            await page.until(f"{tile('c-2')}.contains(document.activeElement)", 10, "focus")
            # Phase moved on (the daemon's answer): Dose start gone, the focus on the chair.
            await pub.active("c-2", [], session("dosing", "esketamine", 0))
            await page.until(f"!!document.querySelector({json.dumps(by_id('cmd:c-2:dose_end'))})")
            assert await page.js(f"{tile('c-2')}.contains(document.activeElement)")
            # Escape sent nothing: the one command is the one confirmed.
            for _ in range(100):
                if sent:
                    break
                await asyncio.sleep(0.05)
            assert [c["action"] for c in sent] == ["dose_start"], sent


@pytest.mark.parametrize("media", ["normal", "forced-colors"])
async def test_every_control_shows_a_focus_ring_that_stands_out(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, media: str
) -> None:
    """Tab through the whole page, the board in alarm (high, medium, low rows; an offline
    chair's ACK; the alarm bar's links; the audio paused banner's Resume): every control
    the focus reaches shows a ring at least 2 px wide at 3:1 against what is under it, at
    both halves of the alarm's flash, also with forced colours. Before, the browser's own
    ring: 1 px, near-black (#101010), about 1:1 on the dark page and its dark buttons:
    the nurse could not see where the focus was."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        if media == "forced-colors":
            await page.send("Emulation.setEmulatedMedia", features=FORCED)
        for cid, prio in (("c-1", "high"), ("c-2", "medium"), ("c-3", "low")):
            a = alert(cid, "spo2.low", prio, f"SpO2 86 < 90 ({prio})")
            await pub.chair(cid, [a], sess=session("dosing", "esketamine", 10))
        await pub.chair("c-4", [], online=False, sess=session("baseline", "esketamine", None))
        await page.until("document.querySelectorAll('button.ack').length === 4", 20, "4 ACKs")
        await page.tap("#pause")
        await page.until("!document.getElementById('paused-banner').hidden", 10, "paused")
        seen: dict[str, Any] = {}
        for _ in range(60):
            await press(page, "Tab")
            what = await page.js(
                "(e => e.id || `${e.tagName}:${e.dataset.chair || ''}`)(document.activeElement)"
            )
            if what in seen or what == "BODY:":
                continue
            await page.screenshot(tmp_path / f"focus-{media}-{len(seen)}.png")
            rings = []
            for phase in (0.25, 0.75):
                await page.js(AT_PHASE % phase)
                rings.append(await page.js(RING))
            await page.js(RESUME)
            seen[what] = rings
        assert {"resume", "logout", "cmd:c-4:dose_start", "offack:c-4"} <= set(seen), seen
        assert sum(k.startswith("ack:") for k in seen) == 3, seen
        assert {"A:c-1", "A:c-2", "A:c-3", "A:c-4"} <= set(seen), seen  # the alarm bar
        bad = {
            k: r
            for k, rings in seen.items()
            for r in rings
            if r["style"] in ("none", "auto") or r["width"] < 2 or r["ratio"] < 3
        }
        assert bad == {}, bad


async def test_log_out_and_in_with_the_keyboard_a_wrong_pin_said(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Log out with Tab and Enter, a wrong PIN typed and Enter: the refusal is said (the
    form's error is an alert: before, a plain paragraph, silent to a screen reader, the
    nurse waiting on a board that never came); the right PIN and Enter: the board."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, _pub):
        await tab_to(page, "#logout")
        await press(page, "Enter")
        await page.until("!document.getElementById('login-view').hidden", 10, "logged out")
        await tab_to(page, "#login-pin")
        await page.type_into("#login-name", "alice")
        await page.type_into("#login-pin", "0000000")
        await press(page, "Enter")
        error = "document.getElementById('login-error')"
        said = await page.until(f"{error}.textContent && {error}.textContent", 10, "refused")
        alerts = [
            n
            for n in (await page.send("Accessibility.getFullAXTree"))["nodes"]
            if n.get("role", {}).get("value") == "alert" and not n.get("ignored")
        ]
        assert alerts, f"{said!r} not said: no alert"
        await page.type_into("#login-pin", NURSES["alice"])
        await press(page, "Enter")
        await page.until("!document.getElementById('board').hidden", 10, "logged in")
