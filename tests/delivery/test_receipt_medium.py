"""docs/delivery.md: `delivery.unheard` ("alarm not received by any station") comes when "a
high/medium alert event the broker accepted waited `mqtt.receipt_timeout_s` for a
station's receipt". Every receipt test raised a high one; a change that tracked high events
alone passed them all, and a medium alarm (tech.device_lost, bp.high ...) that no station
showed went unsaid at the chair. A low event waits for no receipt. Real mosquitto, the
daemon's sink and watch as the daemon wires them."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import UNHEARD_KEY, DeliveryWatch
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def test_a_medium_alarm_no_station_received_is_said_a_low_one_waits_for_none(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix,
                     timeout_s=2, receipt_timeout_s=0.5)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    tech = TechAlarms()
    watch = DeliveryWatch(30.0, sink, lambda: True, tech, receipts=sink.receipts)
    sink.on_link = watch.poke  # as the daemon wires it
    task = asyncio.create_task(sink.run())
    wt = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: sink.connected, 10, "connected")
        # A low `raised`, accepted by the broker: nothing waits for a station's receipt.
        outbox.add_alert_events([replace(alert(0), priority="low")])
        outbox.commit()
        sink.wake()
        await eventually(lambda: outbox.backlog("mqtt") == 0, 10, "the low event delivered")
        assert not sink.receipts.waiting, sink.receipts.waiting
        # A medium `raised`, accepted, no station listening: said at the chair.
        outbox.add_alert_events([replace(alert(2), priority="medium")])
        outbox.commit()
        sink.wake()
        await eventually(lambda: UNHEARD_KEY in tech.active, 10, "delivery.unheard raised")
        assert "spo2.low (medium)" in tech.active[UNHEARD_KEY]["text"], tech.active
    finally:
        for t in (wt, task):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
