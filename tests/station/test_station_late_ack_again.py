"""A late ACK's answer beside the same rule sounding again (docs/station.md "Tiles").

bob taps ACK on a bp.crisis; before his tap reaches the chair, that crisis has cleared
and a new one is up (another alert id, not acknowledged). The daemon answers his ACK
`code: cleared` for the old id (docs/mqtt.md). Before, every page said, in green,
"bp.crisis had already cleared at ..." beside the new, unacknowledged crisis: read at a
glance, the crisis was over. Now the answer says the new one is active and not
acknowledged, not in green. Without a new one, the green answer stays as it was; and
the same for `acknowledged`, and for a per-device rule (another monitor lost).
A real station and mosquitto; the chair is a publisher with the chair's topics.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.station_kit import alert, session, station_page, tile

T1 = tile("chair-1")
ANSWER = f"{T1}.querySelector('.answer, .refusal')"


async def test_a_late_ack_answer_does_not_read_all_clear_beside_a_new_alarm(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        old = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110", ago_s=300)
        new = alert("chair-1", "bp.crisis", "high", "BP 214/126 >= 180/110", ago_s=20)
        await pub.chair("chair-1", [new], sess=session("dosing", "esketamine", 30))
        await page.until(f"!!{T1}?.querySelector('.alert.high button.ack')", 20, "new crisis")
        sent = 0

        async def answer(code: str, alert_id: str, rule: str = "bp.crisis", **kw: Any) -> str:
            nonlocal sent
            body = {
                "time": iso(time.time()),
                "topic": "cmd/ack",
                "error": f"{alert_id}: {code}",
                "code": code,
                "alert_id": alert_id,
                "rule": rule,
                "payload": json.dumps({"alert_id": alert_id, "by": "bob"}),
                **kw,
            }
            await pub.client.publish(pub.topic("chair-1", "cmd/errors"), json.dumps(body), 1)
            sent += 1
            await page.until(f"chairs.get('chair-1').errors.length === {sent}", 10, "answer")
            await page.until(f"!!{ANSWER}", 10, "answer on the tile")
            return str(await page.js(f"{ANSWER}.className + ' | ' + {ANSWER}.textContent"))

        cleared = iso(time.time() - 60)
        shown = await answer("cleared", old["alert_id"], cleared_at=cleared)
        await page.screenshot(tmp_path / "late-ack-beside-new-crisis.png")
        assert shown.startswith("answer again | ACK by bob at "), shown
        assert "that bp.crisis had already cleared at " in shown, shown
        assert "another bp.crisis is active, NOT acknowledged" in shown, shown
        assert "already-" not in shown.split(" | ")[0], shown  # not the green class
        # Its colour is not the green of an all-clear answer.
        colour = await page.js(f"getComputedStyle({ANSWER}).backgroundColor")
        green = await page.js(
            "(() => { const d = document.createElement('div'); d.className = 'answer';"
            " document.body.append(d); const c = getComputedStyle(d).backgroundColor;"
            " d.remove(); return c; })()"
        )
        assert colour != green, (colour, green)
        # The new crisis acknowledged (by alice): the late answer is news again, green.
        await pub.active(
            "chair-1", [{**new, "ack": True, "by": "alice"}], session("dosing", "esketamine", 30)
        )
        await page.until(f"{ANSWER}.className === 'answer cleared-already'", 10, "green again")
        shown = str(await page.js(f"{ANSWER}.textContent"))
        assert "bp.crisis had already cleared at " in shown and "NOT" not in shown, shown
        # `acknowledged`, and a per-device rule: another monitor lost, not acknowledged.
        lost = alert(
            "chair-1", "tech.device_lost", "medium", "cuff lost", kind="technical", ago_s=5
        )
        await pub.active("chair-1", [lost], session("dosing", "esketamine", 30))
        await page.until(f"!!{T1}.querySelector('.alert.medium button.ack')", 10, "cuff lost")
        gone = f"chair-1:tech.device_lost:{int((time.time() - 90) * 1000)}"
        shown = await answer(
            "acknowledged", gone, "tech.device_lost", acked_by="alice", acked_at=cleared
        )
        assert shown.startswith("answer again | "), shown
        assert "that tech.device_lost was already acknowledged by alice at " in shown, shown
        assert "another tech.device_lost is active, NOT acknowledged" in shown, shown
        # The same answer with nothing else of the rule up: the plain green one.
        await pub.active("chair-1", [], session("dosing", "esketamine", 30))
        await page.until(f"{ANSWER}.className === 'answer acked-already'", 10, "plain")
