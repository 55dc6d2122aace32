"""Ids and words as long as the contract lets them be stay inside their tile, on a
wallboard (1280x720) and a small touchscreen (800x480): eight chairs whose ids are as
long as a config allows (64 characters, `Ident`), a device id as long, an ACK `by` of a
nurse name's 64 characters, a message with a long unbroken word (a probe's serial, a
URL), the daemon's answer naming both nurses (docs/station.md "The page"). Every tile
stays inside the board, with its chair id whole (wrapped, never cut: two ids may differ
only at the end), its state, every alert's priority and ACK in view, and the page never
scrolls sideways. Before, a 64-character chair id widened its tile past the screen: the
board scrolled sideways and the ONLINE badge, the ACK buttons and the alarms' priority
were off the screen. Real station, real mosquitto, real headless Chromium.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.cdp import Page
from tests.station.shared_board import Boards, shared_boards
from tests.station.station_kit import ChairPublisher, alert, session, vitals

# The two sizes of each board look at one station (tests/station/shared_board.py).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def boards(
    mosquitto_server: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Boards]:
    async with shared_boards(mosquitto_server, tmp_path_factory) as b:
        yield b


IDS = [
    "W" * 64,  # Ident's max_length, the widest letter, no place to break
    "chair-" + "M" * 58,
    "CHAIR-RECOVERY-BAY-NORTH-EAST-WINDOW-SIDE-SECOND-FLOOR-ROOM-0001",
    "c" + "0" * 63,
    "chair.recovery.bay.south.west.corridor.side.first.floor.room.002",
    "M" * 32,
    "chair-" + "W" * 58,
    "chair_" + "m" * 58,
]
DEVICE = "intellivue-" + "X" * 53  # a device id as long as a chair's
NURSE = "Margaretha-" + "W" * 53  # a nurse name's 64 characters (auth.nurse_line)
TOKEN = "probe-serial-" + "0123456789ABCDEF" * 8  # one word of 141 characters
MSG = f"SpO2 86 < 90 for 15 s; {TOKEN}"


async def board(pub: ChairPublisher, ids: list[str], *, words: bool) -> None:
    """Eight chairs in alarm, one offline, each with an acknowledged alert and the daemon's
    answer to a second ACK; `words`: device id, ACK `by` and message at their longest."""
    device, by, msg = (DEVICE, NURSE, MSG) if words else ("monitor", "alice", "SpO2 86 < 90")
    for i, cid in enumerate(ids):
        loud = alert(cid, "spo2.low", "high" if i % 2 else "medium", msg)
        acked = alert(cid, "bp.high", "medium", "BP 172/104 > 160/100", ack=True, by=by)
        tech = alert(cid, "tech.device_lost", "low", f"{device} lost", kind="technical",
                     value={"device": device})  # fmt: skip
        await pub.status(cid, "online" if i != 5 else "offline")
        readings = vitals(cid, 212, 124, 128, 100, 20)
        for r in readings.values():
            r["device"] = device
        await pub.vitals(cid, readings)
        await pub.active(cid, [loud, acked, tech], session("dosing", "esketamine", 20))
        # The daemon's answer to a second ACK: who sent it and who acknowledged first.
        answer = {
            "time": iso(time.time()), "topic": pub.topic(cid, "cmd/ack"),
            "error": f"alert {acked['alert_id']} is already acknowledged",
            "payload": json.dumps({"alert_id": acked["alert_id"], "by": by}),
            "code": "acknowledged", "alert_id": acked["alert_id"], "rule": "bp.high",
            "acked_by": by, "acked_at": iso(time.time() - 5),
        }  # fmt: skip
        await pub.client.publish(pub.topic(cid, "cmd/errors"), json.dumps(answer), 1, False)


# What of a tile is outside it (its box, each element's, each line of text), and whether
# the page scrolls sideways.
OUTSIDE = """(() => {
  const out = [], vw = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth;
  if (wide > vw) out.push(`page ${wide} wide > ${vw}`);
  for (const t of document.querySelectorAll('.tile')) {
    const box = t.getBoundingClientRect(), id = t.dataset.chair.slice(0, 12);
    const within = (r) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
    if (box.right > vw + 0.5) out.push(`${id}: tile ends at ${box.right} > ${vw}`);
    for (const e of t.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (r.width && !within(r)) out.push(`${id}: ${e.className || e.tagName} ends at ${r.right}`);
    }
    const w = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
    for (let n; (n = w.nextNode()); ) {
      const g = document.createRange();
      g.selectNodeContents(n);
      const what = `${id}: text ${JSON.stringify(n.textContent.slice(0, 20))} outside`;
      for (const r of g.getClientRects()) if (r.width && !within(r)) out.push(what);
    }
  }
  return out;
})()"""
# Each reading's value not on one line, and the vitals' values overlapping each other.
ONE_LINE = """(() => {
  const out = [];
  for (const t of document.querySelectorAll('.tile')) {
    const vs = [...t.querySelectorAll('.vital .v')];
    vs.forEach((v, i) => {
      const g = document.createRange();
      g.selectNodeContents(v);
      const rs = [...g.getClientRects()];
      if (rs.length !== 1) out.push(`${t.dataset.chair.slice(0, 12)}: ${v.textContent} broken`);
      const next = vs[i + 1] && vs[i + 1].getBoundingClientRect();
      if (next && rs.length && rs[rs.length - 1].right > next.left && next.top < rs[0].bottom)
        out.push(`${t.dataset.chair.slice(0, 12)}: ${v.textContent} over the next value`);
    });
  }
  return out;
})()"""
# What a nurse must see of each tile, each inside the screen: its id whole, its state, each
# alert's priority and ACK (or who acknowledged it), the answer's words.
SEEN = """[...document.querySelectorAll('.tile')].map((t) => {
  const vw = document.documentElement.clientWidth;
  const shown = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.right <= vw + 0.5;
  };
  const name = t.querySelector('.head .name');
  const parts = [name, t.querySelector('.head .state'), ...t.querySelectorAll(
    '.alert .tag, .alert button.ack, .alert .ackby, .answer, .offline-banner button')];
  return {
    chair: t.dataset.chair, name: name.textContent,
    nameWhole: name.scrollWidth <= name.clientWidth + 0.5,
    parts: parts.map((e) => [e.className, e.textContent.slice(0, 24), shown(e)]),
  };
})"""


async def check(page: Page, tmp: Path, ids: list[str]) -> None:
    await page.until(
        "document.querySelectorAll('.tile .answer').length === 8", 20, "8 tiles, answers"
    )
    await page.screenshot(tmp / "board.png")
    await page.js("document.querySelector('.tile .alerts').scrollIntoView({block: 'end'})")
    await page.screenshot(tmp / "alerts.png")
    assert await page.js(OUTSIDE) == []
    tiles: list[dict[str, Any]] = await page.js(SEEN)
    assert sorted(t["chair"] for t in tiles) == sorted(ids)
    # A value is never broken across lines: "212/12" over "4" reads as another BP.
    assert await page.js(ONE_LINE) == []
    for t in tiles:
        assert t["name"] == t["chair"] and t["nameWhole"], t
        # the id, the state, 3 alert tags, 2 ACKs, 1 "ACK by", the answer (offline: its ACK)
        assert len(t["parts"]) >= 9, t
        assert all(p[2] for p in t["parts"]), t


async def long_ids(pub: ChairPublisher) -> None:
    await board(pub, IDS, words=False)


WORDS_IDS = [f"chair-{i}" for i in range(1, 9)]


async def long_words(pub: ChairPublisher) -> None:
    await board(pub, WORDS_IDS, words=True)


@pytest.mark.parametrize("size", [(1280, 720), (800, 480)])
async def test_chair_ids_as_long_as_a_config_allows_stay_inside_their_tiles(
    tmp_path: Path, boards: Boards, size: tuple[int, int]
) -> None:
    async with boards.page("ids", long_ids, size) as (page, _):
        await check(page, tmp_path, IDS)


@pytest.mark.parametrize("size", [(1280, 720), (800, 480)])
async def test_long_device_ids_names_and_words_stay_inside_their_tiles(
    tmp_path: Path, boards: Boards, size: tuple[int, int]
) -> None:
    async with boards.page("words", long_words, size) as (page, _):
        await check(page, tmp_path, WORDS_IDS)


# The confirmation's words and its two buttons, each inside the dialog and the screen.
DIALOG = """(() => {
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const d = document.getElementById('confirm'), box = d.getBoundingClientRect();
  const inside = (r) => r.left >= Math.max(box.left, 0) - 0.5
    && r.right <= Math.min(box.right, vw) + 0.5
    && r.top >= Math.max(box.top, 0) - 0.5 && r.bottom <= Math.min(box.bottom, vh) + 0.5;
  const g = document.createRange();
  g.selectNodeContents(document.getElementById('confirm-text'));
  return {
    open: d.open, text: document.getElementById('confirm-text').textContent,
    words: [...g.getClientRects()].every(inside),
    buttons: ['confirm-ok', 'confirm-cancel'].map(
      (id) => inside(document.getElementById(id).getBoundingClientRect())),
    page: document.documentElement.scrollWidth <= vw,
  };
})()"""


async def one_long_id(pub: ChairPublisher) -> None:
    await pub.chair(IDS[0], [], sess=session("dosing", "esketamine", 20))


@pytest.mark.parametrize("size", [(1280, 720), (800, 480)])
async def test_the_confirmation_names_a_long_chair_id_whole_with_its_buttons_in_view(
    tmp_path: Path, boards: Boards, size: tuple[int, int]
) -> None:
    """The confirmation opened, never confirmed: the station's board stays as it was."""
    cid = IDS[0]
    async with boards.page("confirm", one_long_id, size) as (page, _):
        button = f"document.getElementById('cmd:{cid}:end')"
        await page.until(f"!!{button}", 20, "the chair's End session")
        await page.js(f"{button}.scrollIntoView({{block: 'center'}})")
        await page.js(f"{button}.click()")
        await page.until("document.getElementById('confirm').open", 10, "the confirmation")
        await page.screenshot(tmp_path / "confirm.png")
        got = await page.js(DIALOG)
        assert got == {
            "open": True, "text": f"END the session on {cid}, as alice?",
            "words": True, "buttons": [True, True], "page": True,
        }  # fmt: skip
