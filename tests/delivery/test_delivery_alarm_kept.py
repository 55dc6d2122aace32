"""clinical-rules.md "Delivery of alarms": with the broker unreachable for 30 s while any
alert is active, the daemon raises a local technical alarm "and keeps it up until delivery
resumes". An alert of the chair that ends while the broker is still away does not end it:
its `cleared` event waits in the outbox with the rest, the station still shows the alarm
it last heard of, and the nurse at the chair is the only one who can know. Only the link
delivering again clears it. And it is raised only "while any alert is active": the link
down as long with none raises nothing.

Raised, it is said at CRITICAL in the journal and as `!!!` on the console (the sentence's
"log at CRITICAL, console"). Real mosquitto (stopped and started), the real sink and
watch as the daemon wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from monitord import delivery
from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import DeliveryWatch
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"
AFTER_S = 0.5  # delivery_alarm_after_s


async def test_delivery_alarm_stays_up_when_the_alerts_end_while_the_broker_is_away(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2,
                     delivery_alarm_after_s=AFTER_S)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    one = {"alert_id": "a-00001", "priority": "high", "state": "active", "ack": False}
    active: list[dict[str, Any]] = []
    console: list[str] = []
    tech = TechAlarms(console=console.append)
    watch = DeliveryWatch(AFTER_S, sink, lambda: bool(active), tech)
    sink.on_link = watch.poke  # as the daemon wires it (monitord/daemon.py)
    task = asyncio.create_task(sink.run())
    watcher = asyncio.create_task(watch.run())
    stopped = False
    try:
        await eventually(lambda: sink.connected, 10, "connected")
        await asyncio.to_thread(mosquitto.stop)
        stopped = True

        # "while any alert is active": the link down that long with none raises nothing.
        def down_for() -> float:
            since = sink.down_since()
            return 0.0 if since is None else time.monotonic() - since

        await eventually(lambda: down_for() >= AFTER_S, 10, "the link down for after_s")
        watch.check(time.monotonic())
        assert not watch.on and "delivery" not in tech.active, tech.active

        # An alert raised meanwhile: the alarm at once (down long enough already).
        active.append(one)
        sink.set_active("chair-1", active)
        watch.active_changed()
        with caplog.at_level(logging.CRITICAL, "monitord.alarm"):
            await eventually(lambda: "delivery" in tech.active, 10, "delivery alarm raised")
        # "log at CRITICAL, console": the journal's line and the console's, once each.
        said = [r for r in caplog.records if "DELIVERY ALARM" in r.getMessage()]
        assert [r.levelno for r in said] == [logging.CRITICAL], said
        assert [ln for ln in console if "DELIVERY ALARM" in ln] == ["!!! " + delivery.RAISED]

        # The alert ends while the broker is away: its event is queued, the set empty.
        outbox.add_alert_events([alert(1)])
        outbox.commit()
        sink.wake()
        active.clear()
        sink.set_active("chair-1", active)
        watch.active_changed()
        watch.check(time.monotonic())  # a look with no alert active, the link still down
        assert sink.down_since() is not None
        assert watch.on and "delivery" in tech.active, tech.active
        assert outbox.backlog("mqtt") == 1

        await asyncio.to_thread(mosquitto.start)
        stopped = False
        await eventually(lambda: outbox.backlog("mqtt") == 0, 15, "the queued event delivered")
        await eventually(lambda: "delivery" not in tech.active, 10, "cleared by delivery")
        assert "delivery" in tech.cleared
    finally:
        if stopped:
            await asyncio.to_thread(mosquitto.start)
        for t in (watcher, task):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
