"""The station page through a screen reader (a nurse with low vision; docs/station.md
"Keyboard and screen reader"), read from Chromium's accessibility tree: what each control
is called, the tiles' headings, and what the page says aloud by itself (its live regions)
when an alarm comes, with readings coming every second, and when a banner comes up. Real
station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.station_kit import alert, session, station_page


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
