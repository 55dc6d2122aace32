"""`alerts/receipts` is QoS 1, not retained (docs/mqtt.md). A receipt someone published
with the retain flag is kept by the broker and replayed at every (re)subscribe: taken as
fresh, each reconnect of the chair cleared a standing `delivery.unheard` ("alarm not
received by any station") with no station listening (found by this round's audit of
delivery; the test failed before retained receipts were refused)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import DeliveryWatch
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def test_a_retained_receipt_does_not_clear_alarm_not_received(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix,
                     timeout_s=2, receipt_timeout_s=1.0)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    tech = TechAlarms()
    watch = DeliveryWatch(30.0, sink, lambda: True, tech, receipts=sink.receipts)
    sink.on_link = watch.poke  # as the daemon wires it
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    topic = f"{base}/alerts/receipts"
    # Earlier, a station (or a tool) published a receipt with the retain flag.
    receipt = {"alert_id": "chair-1:spo2.low:1", "event": "raised", "station": "station-1",
               "shown_at": "2026-01-01T00:00:00Z", "sounded": True}  # fmt: skip
    async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                              protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
        await c.publish(topic, json.dumps(receipt).encode(), qos=1, retain=True)
    caplog.set_level(logging.DEBUG, logger="monitord")  # repeats of a failure: DEBUG
    task = asyncio.create_task(sink.run())
    wt = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: sink.connected)
        outbox.add_alert_events([alert(0)])  # a high `raised`; no station is listening
        outbox.commit()
        sink.wake()
        await eventually(lambda: "delivery.unheard" in tech.active, 10, "unheard raised")
        # The chair's connection drops and comes back (a client taking over its client
        # id, as `monitord doctor` does; a network blip does the same).
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  identifier=f"monitord-{SITE}-chair-1",
                                  protocol=aiomqtt.ProtocolVersion.V5):  # fmt: skip
            await eventually(lambda: not sink.connected, 10, "kicked off")
        await eventually(lambda: sink.connected, 10, "reconnected")
        await asyncio.sleep(1.5)
        assert "delivery.unheard" in tech.active, tech.cleared.get("delivery.unheard")
        assert sink.receipts.received == 0
        lines = [r.getMessage() for r in caplog.records if "retained receipt" in r.getMessage()]
        seen = len(lines)  # at the first connect, and again at the reconnect
        assert lines and f"mosquitto_pub -r -n -t '{topic}'" in lines[0], lines
        # One sent retained while the chair is connected is refused as well: the broker
        # forwards it live (retain as published keeps its flag; without it, it counted).
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
            again = dict(receipt, alert_id="y", station="station-3")
            await c.publish(topic, json.dumps(again).encode(), qos=1, retain=True)
        await eventually(
            lambda: sum("retained receipt" in r.getMessage() for r in caplog.records) > seen,
            10,
            "the live retained receipt refused",
        )
        assert "delivery.unheard" in tech.active
        assert sink.receipts.received == 0
        # A live receipt (no retain) still counts and clears it.
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
            live = dict(receipt, alert_id="x", station="station-2")
            await c.publish(topic, json.dumps(live).encode(), qos=1)
        await eventually(lambda: "delivery.unheard" not in tech.active, 10, "cleared")
    finally:
        for t in (task, wt):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
            await c.publish(topic, b"", qos=1, retain=True)
