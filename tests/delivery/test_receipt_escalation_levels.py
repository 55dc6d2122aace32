"""A second receipt of one escalation (two stations, or a page that sounded an event first
shown silent) must not answer the NEXT escalation of the same alert: that one is waited
for, and `delivery.unheard` comes when no station shows it. Found by an audit: receipts
were keyed on (alert id, event), and the duplicate, kept as an "early" receipt, answered
level 2 before it was sent. Now the receipt carries the event's `level` and is keyed on
it; a receipt without `level` (a station older than the field) answers only a wait that
exists when it comes.

docs/delivery.md "Receipts and station status": "The daemon tracks the `raised` and
`escalated` events of high and medium priority that the broker accepted. With no receipt
for one within `[mqtt] receipt_timeout_s` (15 s) nobody is listening: `delivery.unheard`
is raised". docs/station.md: a receipt is sent "once per station and event (again if a
later page sounded one first shown silent)".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import DeliveryWatch
from monitord.models import AlertEvent
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


@pytest.mark.parametrize("with_level", [True, False], ids=["level", "no-level"])
async def test_a_duplicate_receipt_of_escalation_1_does_not_answer_escalation_2(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, with_level: bool
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix,
                     timeout_s=2, receipt_timeout_s=1.0)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    tech = TechAlarms()
    watch = DeliveryWatch(30.0, sink, lambda: True, tech, receipts=sink.receipts)
    sink.on_link = watch.poke
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    events_topic = f"{base}/alerts/events"
    receipts_topic = f"{base}/alerts/receipts"
    aid = "chair-1:spo2.very_low:1000"
    raised = replace(alert(0), alert_id=aid, rule="spo2.very_low")
    esc1 = replace(raised, event="escalated", level=1, t=raised.t + 120)
    esc2 = replace(raised, event="escalated", level=2, t=raised.t + 240)

    task = asyncio.create_task(sink.run())
    wt = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: sink.connected)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as st:  # fmt: skip
            await st.subscribe(events_topic, qos=1)

            async def receipt(ev: AlertEvent, station: str, sounded: bool) -> None:
                body = {"alert_id": aid, "event": ev.event, "station": station,
                        "shown_at": "2026-01-01T00:00:00Z", "sounded": sounded}  # fmt: skip
                if with_level:
                    body["level"] = ev.level
                await st.publish(receipts_topic, json.dumps(body).encode(), qos=1)

            for ev in (raised, esc1):
                outbox.add_alert_events([ev])
                outbox.commit()
                sink.wake()
                await eventually(lambda: sink.outbox.backlog("mqtt") == 0, 10)
                # Two stations show it (or one station: a silent page, then a sounding one).
                await receipt(ev, "station-1", False)
                await receipt(ev, "station-2", True)
            await eventually(lambda: sink.receipts.received == 4, 10, "4 receipts in")
            await asyncio.sleep(1.5)
            assert "delivery.unheard" not in tech.active  # both events were shown
            assert not sink.receipts.early  # the duplicates were dropped, not kept

            # Escalation level 2: the stations are gone now (pages closed); nobody shows it.
            outbox.add_alert_events([esc2])
            outbox.commit()
            sink.wake()
            await eventually(lambda: sink.outbox.backlog("mqtt") == 0, 10, "esc2 accepted")
            assert (aid, "escalated", 2) in sink.receipts.waiting
            await eventually(
                lambda: "delivery.unheard" in tech.active,
                5,
                "delivery.unheard for escalation level 2 that no station received",
            )
    finally:
        for t in (task, wt):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
