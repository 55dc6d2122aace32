"""config/homeassistant/monitord-alerts.yaml given a backlog: the chairs' link to the
broker was down for 5 minutes (a switch; or the broker itself, Home Assistant back on it
before them) while 60 alerts were raised (some escalated, acknowledged or cleared) on 8
chairs; back, each chair publishes what it held at once, and Home Assistant's MQTT
integration receives the burst faster than it sends one notification. The chairs
publish as their own accounts on the shipped broker config and ACL, Home Assistant reads
as the account the file names (real mosquitto); its automations' runs are
tests/forward/ha_render.py's QueuedRuns (Home Assistant's queued mode, re-stated from
its source).

Each raised or escalated alert must reach the phones, and at the end the phones show
exactly the alerts neither acknowledged nor cleared. Before: two automations, each its
own queue of at most 50 runs: 36 of the notifications were dropped (only Home
Assistant's log said so), and the clears, in a queue of their own, ran ahead of the
notifications they clear, so alerts acknowledged or cleared long before rang on the
phones and stayed there.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.acl_kit import SITE
from tests.forward.forward_kit import HA_FILE, login, passwords, start_broker
from tests.forward.ha_render import Automations, Phone, QueuedRuns, ha_account
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

CHAIRS = [f"north-wing-room-{n}-chair" for n in range(1, 9)]
# (rule, priority), as docs/alerts.md has them
RULES = [("spo2.low", "medium"), ("spo2.very_low", "high"), ("bp.severe", "high"),
         ("hr.high", "medium"), ("tech.sensor_off", "low")]  # fmt: skip
T0_MS = 1_796_371_200_000  # 2026-12-04T08:00:00Z: the outage starts


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def backlog() -> list[dict[str, Any]]:
    """60 alerts in 5 minutes on 8 chairs, each chair's events in the order it raised
    them: every 5 s an alert is raised; every 5th is escalated 10 s later, every 12th
    (from the 4th) 2 minutes later; every 2nd is acknowledged 20 s after it was raised,
    half of all cleared after 90 s (those acknowledged too after their ack)."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    for i in range(60):
        chair, (rule, priority) = CHAIRS[i % 8], RULES[i % len(RULES)]
        t = T0_MS + i * 5000
        alert = {"chair": chair, "rule": rule, "priority": priority,
                 "kind": "physiological", "alert_id": f"{chair}:{rule}:{t}",
                 "phase": "dosing", "value": {}, "message": f"{rule} on {chair}"}  # fmt: skip
        events: list[tuple[str, int, dict[str, Any]]] = [("raised", t, {})]
        if i % 5 == 0:
            events.append(("escalated", t + 10_000, {"level": 1}))
        if i % 2 == 0:
            events.append(("acknowledged", t + 20_000, {"by": "Nurse A"}))
        if i % 4 in (0, 1):
            events.append(("cleared", t + 90_000, {}))
        elif i % 12 == 3:
            events.append(("escalated", t + 120_000, {"level": 1}))
        for event, at, extra in events:
            out.append((at, len(out), {"time": iso(at), "event": event, **alert, **extra}))
    return [body for _, _, body in sorted(out, key=lambda x: (x[0], x[1]))]


async def test_home_assistant_backlog_burst_rings_every_alert_and_clears_the_right_ones(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    ha = Automations(HA_FILE)
    account = ha_account(ha.text)
    broker = start_broker(
        session_tmpdir("mosquitto-fwd-ha-burst"), tls_material, passwords(account, *CHAIRS)
    )
    sent = backlog()
    try:
        topic = f"monitord/{SITE}/+/alerts/events"
        async with login(broker, account, [topic]) as ha_conn:
            async with contextlib.AsyncExitStack() as stack:
                chairs = {c: await stack.enter_async_context(login(broker, c, []))
                          for c in CHAIRS}  # fmt: skip
                for body in sent:
                    await chairs[body["chair"]].client.publish(
                        f"monitord/{SITE}/{body['chair']}/alerts/events",
                        json.dumps(body).encode(),
                        qos=1,
                    )
            await eventually(lambda: len(ha_conn.got) >= len(sent), 20, "the whole backlog")
            got = list(ha_conn.got)
    finally:
        broker.stop()

    runs, phone = QueuedRuns(ha), Phone()
    for t, p, _ in got:
        runs.trigger(t, p)
    runs.drain(phone)

    ringing = [e for e in sent if e["event"] in ("raised", "escalated")]
    done = {e["alert_id"] for e in sent if e["event"] in ("acknowledged", "cleared")}
    assert len(ringing) == 77 and len(done) == 45
    assert not runs.dropped, (
        f"{len(runs.dropped)} runs dropped (Home Assistant only logs 'Maximum number of "
        f"runs exceeded'), the first: {runs.dropped[0]}"
    )
    notified = [(n["data"]["actions"][0]["action"], n["title"]) for n in phone.sent]
    expected = [
        (f"MONITORD_ACK:{e['chair']}:{e['alert_id']}",
         f"{e['priority'].upper()} {e['chair']}: {e['rule']}")
        for e in ringing
    ]  # fmt: skip
    assert notified == expected, "notifications missing or out of order"
    still = {n["data"]["actions"][0]["action"].split(":", 2)[2] for n in phone.shown.values()}
    active = {e["alert_id"] for e in ringing} - done
    assert not still - active, (
        f"{len(still - active)} alerts acknowledged or cleared still on the phones "
        f"(their clear ran before their notification): {sorted(still - active)[:3]}"
    )
    assert still == active, f"active alerts not on the phones: {sorted(active - still)[:3]}"
