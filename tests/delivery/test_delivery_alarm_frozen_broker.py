"""A broker that stops answering (frozen, or the network gone without a RST): the delivery
alarm counts the outage from when the broker stopped answering, not from when the sink
noticed the loss.

Found by an audit: the outage was counted from the loss being *noticed* (a PUBACK wait
timing out after `mqtt.timeout_s`), so a frozen broker raised the delivery alarm
`timeout_s` later than `delivery_alarm_after_s` (defaults: 40 s instead of 30 s).
clinical-rules "Delivery of alarms": "If the broker is unreachable for 30 s while any
alert is active, the daemon raises a local technical alarm". Now the link is down from
the first publish the broker left unanswered (sinks/mqtt_link.py), and with nothing to
send, from the PINGREQ of paho's keepalive that it left unanswered (docs/delivery.md has
the bound). mosquitto is paused with SIGSTOP: the TCP connection stays up, nothing
answers. No tight timing: each bound leaves seconds of margin on a noisy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import DeliveryWatch
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"
AFTER_S = 3.0
TIMEOUT_S = 10.0  # the shipped default of mqtt.timeout_s
KEEPALIVE_S = 5  # the least mqtt.keepalive_s allows


@contextlib.asynccontextmanager
async def delivering(
    mosquitto: Mosquitto, prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[MqttSink, Outbox, TechAlarms]]:
    """A sink and its delivery watch; a high alert delivered; the broker answering."""
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=prefix,
                     timeout_s=TIMEOUT_S, keepalive_s=KEEPALIVE_S,
                     delivery_alarm_after_s=AFTER_S)  # fmt: skip
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    tech = TechAlarms()
    watch = DeliveryWatch(AFTER_S, sink, lambda: True, tech, receipts=sink.receipts)
    sink.on_link = watch.poke
    task = asyncio.create_task(sink.run())
    wt = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: sink.connected)
        outbox.add_alert_events([alert(0)])  # a high alert, delivered
        outbox.commit()
        sink.wake()
        await eventually(lambda: outbox.backlog("mqtt") == 0, 10)
        await eventually(lambda: sink.down_since() is None, 5, "delivering")
        yield sink, outbox, tech
    finally:
        mosquitto.resume()
        for t in (task, wt):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def test_the_delivery_alarm_comes_after_s_after_an_unanswered_publish(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    async with delivering(mosquitto, mqtt_prefix, tmp_path) as (sink, outbox, tech):
        await asyncio.sleep(0.5)
        mosquitto.pause()
        t0 = time.monotonic()
        # Its escalation is committed now and cannot be delivered.
        outbox.add_alert_events([replace(alert(0), event="escalated", level=1)])
        outbox.commit()
        sink.wake()
        raised_after: float | None = None
        deadline = t0 + TIMEOUT_S + AFTER_S + 5
        while time.monotonic() < deadline:
            if "delivery" in tech.active:
                raised_after = time.monotonic() - t0
                break
            await asyncio.sleep(0.05)
        # Before: at timeout_s + after_s (13 s); now at after_s (3 s).
        assert raised_after is not None and raised_after <= AFTER_S + 2.0, raised_after
        mosquitto.resume()
        await eventually(lambda: "delivery" not in tech.active, 15, "cleared once it answers")


async def test_with_nothing_to_send_the_loss_dates_from_the_unanswered_keepalive_ping(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    """No publish waits: paho's keepalive finds the loss, a PINGREQ unanswered for
    `keepalive_s`. The outage counts from that PINGREQ, not from the loss (before: from the
    loss, `keepalive_s` later)."""
    async with delivering(mosquitto, mqtt_prefix, tmp_path) as (sink, _, tech):
        mosquitto.pause()
        t0 = time.monotonic()
        await eventually(lambda: not sink.connected, 4 * KEEPALIVE_S, "the keepalive loss")
        noticed = time.monotonic()
        since = sink.down_since()
        assert since is not None and t0 - 0.5 <= since, (since, t0)
        # The PINGREQ went out up to keepalive_s after the freeze and was given keepalive_s.
        assert noticed - since >= KEEPALIVE_S - 1.5, (noticed - since, noticed - t0)
        await eventually(lambda: "delivery" in tech.active, 10, "the delivery alarm")
