"""The station page through a screen reader (a nurse with low vision; docs/station.md
"Keyboard and screen reader"), read from Chromium's accessibility tree: what each control
is called, the tiles' headings, and what the page says aloud by itself (its live regions)
when an alarm comes, with readings coming every second, and when a banner comes up. Real
station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import alert, session, station_page, tile, vitals


async def ax_nodes(page: Page) -> list[dict[str, Any]]:
    """Chromium's accessibility tree, as a screen reader has it: role, name, properties."""
    tree = await page.send("Accessibility.getFullAXTree")
    out = []
    for n in tree["nodes"]:
        if n.get("ignored"):
            continue
        props = {p["name"]: p["value"].get("value") for p in n.get("properties", [])}
        role, name = n.get("role", {}).get("value"), n.get("name", {}).get("value", "")
        out.append({"role": role, "name": name, **props})
    return out


async def test_every_control_says_which_chair_and_which_alarm(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Before, eight tiles read "ACK", "ACK", "Dose start", "End session", ... : a screen
    reader's list of buttons could not tell one chair's ACK from another's, nor which
    alarm it silences; the tiles had no heading to jump between chairs by. Now each
    control says what it shows first, then its chair (an ACK: and its alarm), and each
    tile is a region under its chair's heading."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        hi = alert("c-1", "spo2.low", "high", "SpO2 86 < 90 for 15 s")
        med = alert("c-1", "bp.high", "medium", "BP 165/95 >= 160/90")
        await pub.chair("c-1", [hi, med], sess=session("dosing", "esketamine", 10))
        low = alert("c-2", "hr.low", "low", "HR 48 < 50")
        await pub.chair("c-2", [low], online=False, sess=session("baseline", "esketamine", None))
        await page.until("document.querySelectorAll('button.ack').length === 4", 20, "4 ACKs")
        nodes = await ax_nodes(page)
        buttons = [n["name"] for n in nodes if n["role"] == "button"]
        board = [b for b in buttons if b not in ("Audio pause 2 min", "Log out")]
        assert len(board) == 4 + 4, buttons  # 3 ACKs, ACK offline, 2 x 2 session controls
        assert len(set(board)) == len(board), board  # none alike
        for b in board:
            assert "c-1" in b or "c-2" in b, b
        assert "ACK, c-1, HIGH alarm: SpO2 86 < 90 for 15 s" in board, board
        assert "ACK, c-1, MEDIUM alarm: BP 165/95 >= 160/90" in board, board
        assert "ACK offline, c-2" in board, board
        assert "Dose end, c-1" in board, board
        headings = [(n["name"], n.get("level")) for n in nodes if n["role"] == "heading"]
        assert ("c-1", 2) in headings and ("c-2", 2) in headings, headings
        regions = [n["name"] for n in nodes if n["role"] == "region"]
        assert "c-1" in regions and "c-2" in regions, regions
        links = [n["name"] for n in nodes if n["role"] == "link"]
        assert links[0].startswith("c-1 HIGH"), links  # the alarm bar: chair, priority


SAID = "[...document.querySelectorAll('[aria-live={}] > *')].map((e) => e.textContent)"


async def test_a_new_alarm_is_announced_once_and_banners_are_said(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A new high alarm is said at once (an assertive live region), a medium one when the
    screen reader is free (polite); each once, not again at the next reading (every second
    with a streaming monitor: a flood that drowns the next alarm). The banners are said as
    they come up: STALE (assertive), audio paused (polite). Before, the page said nothing
    by itself: no live region at all, a new alarm silent to a screen reader whose user had
    the audio paused or the sound low."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        await pub.chair("c-1", [], sess=session("dosing", "esketamine", 10))
        await page.until(f"!!{tile('c-1')}", 20, "tile")
        hi = alert("c-1", "spo2.low", "high", "SpO2 86 < 90 for 15 s")
        med = alert("c-1", "bp.high", "medium", "BP 165/95 >= 160/90")
        await pub.active("c-1", [hi, med], session("dosing", "esketamine", 10))
        urgent = await page.until(f"(s => s.length && s)({SAID.format('assertive')})", 10)
        polite = await page.until(f"(s => s.length && s)({SAID.format('polite')})", 10)
        assert urgent == ["c-1: new HIGH alarm: SpO2 86 < 90 for 15 s"], urgent
        assert polite == ["c-1: new MEDIUM alarm: BP 165/95 >= 160/90"], polite
        live = [n for n in await ax_nodes(page) if n.get("live") in ("assertive", "polite")]
        assert {n["live"] for n in live} == {"assertive", "polite"}, live
        for hr in range(60, 66):  # readings, each redrawing the tile and the alarm bar
            await pub.vitals("c-1", vitals("c-1", 120, 80, hr, 97, 0))
            await page.until(f"{tile('c-1')}.querySelectorAll('.v')[1].textContent === '{hr}'", 10)
        await pub.active("c-1", [hi, med], session("dosing", "esketamine", 11))
        await page.until("chairs.get('c-1').session.dose_start !== null", 10)
        assert await page.js(SAID.format("assertive")) == urgent
        assert await page.js(SAID.format("polite")) == polite
        await page.tap("#pause")
        await page.until(f"{SAID.format('polite')}.some((t) => t.startsWith('AUDIO PAUSED'))", 10)
        await asyncio.to_thread(mosquitto.stop)
        try:
            await page.until(
                f"{SAID.format('assertive')}.some((t) => t.startsWith('STALE, CONNECTION LOST'))",
                15,
                "STALE said",
            )
        finally:
            await asyncio.to_thread(mosquitto.start)
