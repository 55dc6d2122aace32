"""The delivery alarm does not poll (issue 20, target 4): it sleeps until its next deadline
(the link down for `delivery_alarm_after_s` while an alert is active, the oldest receipt
wait due) or until what it decides on tells it. Before, it looked twice a second on every
Pi whatever happened. Each of its three wirings is shown here with the unasked look
(`delivery.LOOK_S`) set to a minute, so nothing but the wiring can raise or clear in time:

- the sink's link going down or delivering again (`MqttSink.on_link`);
- a chair's active set changing while the link is down (a hub listener in the daemon);
- the first receipt wait beginning (the broker's PUBACK), or a receipt arriving while
  `delivery.unheard` stands (`Receipts.on_wait`, `on_receipt`, set by the watch).

And the MQTT sink's tx task no longer looks at the outbox once a second: every alarm here
reaches the broker through a commit that tells the sink, or the reconnect.
Real mosquitto (the session's server, stopped and started), a real in-process daemon.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiomqtt
import pytest

from monitord import delivery
from monitord.config import MqttConfig, StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.delivery import DeliveryWatch
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "wake"
AFTER_S = 0.5  # delivery_alarm_after_s
TIMEOUT_S = 0.5  # receipt_timeout_s


def mqtt_lines(broker: Mosquitto, prefix: str) -> str:
    return (
        f'host = "{broker.host}"\nport = {broker.port}\nprefix = "{prefix}"\ntimeout_s = 2\n'
        f"delivery_alarm_after_s = {AFTER_S}\nreceipt_timeout_s = {TIMEOUT_S}"
    )


async def test_the_daemon_tells_its_delivery_alarm_each_change(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "LOOK_S", 60.0)
    alerts = '"spo2.very_low" = { for_s = 0 }\n'
    mqtt = mqtt_lines(mosquitto, mqtt_prefix)
    daemon = Daemon(loads_config(two_chairs(tmp_path, SITE, alerts=alerts, mqtt=mqtt)))
    active = daemon.alarms.active
    try:
        async with running(daemon):
            assert daemon.mqtt is not None and daemon.delivery is not None
            sink, watch = daemon.mqtt, daemon.delivery
            await eventually(lambda: sink.connected, 10)
            await eventually(lambda: watch.looks >= 1, 5, "the first look")

            # 1. The link down with no alert active: nothing to raise. Then an alert: the
            # hub's listener tells the watch, which raises at once (down long enough).
            await asyncio.to_thread(mosquitto.stop)
            await eventually(lambda: not sink.connected, 10, "the sink saw it go")
            await asyncio.sleep(AFTER_S * 2)
            assert "delivery" not in active
            daemon.chairs["chair-a"].submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
            await eventually(lambda: "delivery" in active, 3, "raised by the active set")

            # 2. The broker back: the link delivers (the queued alarm) and says so.
            await asyncio.to_thread(mosquitto.start)
            await eventually(lambda: "delivery" not in active, 15, "cleared by the link")

            # 3. The alarm's PUBACK starts its receipt wait, which tells the watch: at
            # its deadline, "alarm not received". A receipt clears it.
            await eventually(lambda: "delivery.unheard" in active, 5, "unheard at its deadline")
            assert daemon.receipts.received == 0
            await receipt(mosquitto, f"{mqtt_prefix}/{SITE}/chair-a/alerts/receipts")
            await eventually(lambda: "delivery.unheard" not in active, 5, "cleared by a receipt")

            # 4. The link down with the alert active: raised at its deadline.
            await asyncio.to_thread(mosquitto.stop)
            await eventually(lambda: not sink.connected, 10, "the sink saw it go")
            await eventually(lambda: "delivery" in active, 5, "raised at the link's deadline")
    finally:
        await asyncio.to_thread(mosquitto.ensure_running)


async def receipt(broker: Mosquitto, topic: str) -> None:
    doc = {"alert_id": "x", "event": "raised", "station": "station-1",
           "shown_at": "2026-01-01T00:00:00Z", "sounded": True}  # fmt: skip
    async with aiomqtt.Client(broker.host, broker.port,
                              protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
        await c.publish(topic, json.dumps(doc).encode(), qos=1)


async def test_an_idle_watch_sleeps_an_alarm_costs_it_no_look_and_it_meets_its_deadline(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Connected and nothing waiting: one look per LOOK_S (5 s), not two a second. The
    first receipt wait wakes it (the earliest deadline); later waits and active sets with
    the link up do not (an alarm's path shares the CPU with the broker). The first wait is
    met at its deadline, never before it."""
    timeout_s = 2.0
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix,
                     timeout_s=2, receipt_timeout_s=timeout_s)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command)
    tech = TechAlarms()
    watch = DeliveryWatch(30.0, sink, lambda: True, tech, receipts=sink.receipts)
    sink.on_link = watch.poke  # as the daemon wires it
    tasks = [asyncio.create_task(sink.run()), asyncio.create_task(watch.run())]

    def publish(*ids: int) -> None:
        outbox.add_alert_events([alert(i) for i in ids])  # even: a high `raised`
        outbox.commit()
        sink.wake()

    try:
        await eventually(lambda: sink.connected, 10)
        await eventually(lambda: sink.down_since() is None, 5, "delivering")
        before = watch.looks
        # Two looks at the old 0.5-s step in 1.5 s already fail this (2.5 s waited for five).
        await asyncio.sleep(1.5)
        idle = watch.looks - before
        assert idle <= 1, idle  # 3 at the old 0.5-s step

        publish(0)  # no station listens
        await eventually(lambda: bool(sink.receipts.waiting), 5, "PUBACK")
        since = next(iter(sink.receipts.waiting.values())).since
        await eventually(lambda: watch.looks > before + idle, 1, "the first wait's look")
        looks = watch.looks
        publish(2, 4, 6)
        await eventually(lambda: len(sink.receipts.waiting) == 4, 5, "PUBACKs")
        watch.active_changed()  # as the daemon's hub listener on each alarm
        await asyncio.sleep(0.1)
        assert watch.looks == looks
        await eventually(lambda: "delivery.unheard" in tech.active, 5, "unheard")
        late = time.monotonic() - since
        assert late >= timeout_s, late  # never before the timeout
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outbox.close()
