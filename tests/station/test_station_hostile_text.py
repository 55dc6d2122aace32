"""docs/station.md "Security": every string that reaches the page from outside is shown as
text, never read as HTML. A chair's Pi (or any client the broker lets write a chair's
topics) and whoever writes the nurses file choose these strings: an alert's message, the
`by` of an acknowledged alert, a device id, a refusal on `cmd/errors`, an ACK's answer
(its rule, who acknowledged first, whose ACK it answers), and a nurse's name. Each here
is markup that would run script if it were parsed; against the real station and a real
headless Chromium, each must be on the board as the characters sent, with no element
made from it and no script run. (The page builds every element with textContent; with
`innerHTML` in its `el()` this test fails.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

from monitord.models import iso
from monitord.station.auth import hash_pin
from tests.servers import Mosquitto
from tests.station.station_kit import (
    alert,
    session,
    station_and_browser,
    station_config,
    tile,
    vitals,
)


def bait(where: str) -> str:
    """Markup that sets window.__pwn to `where` if anything parses it as HTML."""
    return f"<img src=x onerror=\"window.__pwn='{where}'\"><b>{where}</b>"


NURSE = bait("nurse")  # 44 characters, no ':' (the nurses file allows it)
PIN = "5512"


async def test_outside_strings_are_shown_as_text(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    with (tmp_path / "nurses").open("a") as f:
        f.write(f"{NURSE}:{hash_pin(PIN, iterations=1000)}\n")
    loud = alert("chair-1", bait("rule"), "high", bait("message"))
    acked = alert("chair-1", "spo2.low", "medium", "SpO2 89 %", ack=True, by=bait("by"))
    readings = vitals("chair-1", 124, 78, 72, 98)
    readings["hr"]["device"] = bait("device")
    now = iso(time.time())
    # A plain refusal (its error shown) and an ACK's answer that names who acked first.
    refusal = {"time": now, "topic": "x", "error": bait("error")}
    answer = {
        "time": now,
        "topic": "x",
        "error": "already acknowledged",
        "code": "acknowledged",
        "alert_id": "chair-2:x:1",
        "rule": bait("answer_rule"),
        "acked_by": bait("acked_by"),
        "acked_at": now,
        "payload": json.dumps({"alert_id": "chair-2:x:1", "by": bait("sent_by")}),
    }
    async with station_and_browser(tmp_path, mosquitto, mqtt_prefix, cfg=cfg) as setup:
        c, pub, _, url, b = setup
        page = await b.new_page()
        await page.goto(url + "/")
        await page.until("!document.getElementById('login-view').hidden", 20, "login form")
        await page.type_into("#login-name", NURSE)
        await page.type_into("#login-pin", PIN)
        await page.tap("#login-go")
        await page.until("!document.getElementById('board').hidden", 20, "logged in")
        await pub.status("chair-1", "online")
        await pub.vitals("chair-1", readings)
        await pub.active("chair-1", [loud, acked], session("dosing", "esketamine", 10))
        await pub.chair("chair-2", [])
        await c.publish(pub.topic("chair-1", "cmd/errors"), json.dumps(refusal), 1)
        await c.publish(pub.topic("chair-2", "cmd/errors"), json.dumps(answer), 1)
        for chair, cls in (("chair-1", ".refusal"), ("chair-2", ".answer")):
            shows = f"!!{tile(chair)}?.querySelector('{cls}')"
            await page.until(shows, 20, f"{chair}'s {cls} shown")
        shown = await page.js("document.body.innerText")
        wheres = ("nurse", "message", "by", "device", "error", "answer_rule", "acked_by", "sent_by")
        for where in wheres:
            assert bait(where) in shown, (where, shown)
        assert await page.js("window.__pwn === undefined"), await page.js("window.__pwn")
        made = await page.js(
            "[...document.querySelectorAll('img, b, [onerror]')].map((e) => e.outerHTML)"
        )
        assert made == [], made
        await page.close()
