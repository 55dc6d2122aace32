"""A broker that accepts every connection and drops it at a publish it will not take (a
packet over its `max_packet_size`; with `message_size_limit` mosquitto 2.0.11 answers a
PUBACK code paho treats as a protocol error) left the chair reconnecting forever. Each
CONNACK reset the outage clock, so the `delivery` alarm never fired, and nothing at the
chair said that the alarm behind it never reached the station (found by this round's
audit of delivery; the test failed before `MqttSink._delivering`).

Also: a reconnect that delivers clears the alarm, and the reconnects back off instead of
hammering the broker every 0.1 s."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
from pathlib import Path

import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.delivery import DeliveryWatch
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, no_command
from tests.kit import Observer, eventually
from tests.servers import Mosquitto, session_tmpdir

SITE = "site-a"


class LimitedMosquitto(Mosquitto):
    """mosquitto with one more line in its configuration (a packet size limit)."""

    def __init__(self, workdir: Path, extra: str) -> None:
        self.extra = extra
        super().__init__(workdir)

    def _write_config(self) -> None:
        super()._write_config()
        self.conf.write_text(self.conf.read_text() + self.extra + "\n")


@pytest.mark.parametrize("limit", ["max_packet_size 1024", "message_size_limit 1200"])
async def test_a_broker_that_kicks_us_off_at_a_publish_raises_the_delivery_alarm(
    tmp_path: Path, limit: str
) -> None:
    workdir = session_tmpdir("mosq-limited")
    broker = LimitedMosquitto(workdir, limit)
    broker.start()
    try:
        p = tmp_path / "outbox.sqlite"
        outbox = Outbox(p, StorageConfig(path=p))
        prefix = "flap"
        cfg = MqttConfig(host=broker.host, port=broker.port, prefix=prefix, timeout_s=2,
                         delivery_alarm_after_s=1.0)  # fmt: skip
        sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                        backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
        tech = TechAlarms()
        watch = DeliveryWatch(1.0, sink, lambda: True, tech, receipts=sink.receipts)
        sink.on_refusal = watch.refusal
        sink.on_link = watch.poke  # as the daemon wires it
        big = dataclasses.replace(alert(0), message="SpO2 low " + "x" * 1500)
        async with Observer(broker, [f"{prefix}/{SITE}/chair-1/alerts/#"]):
            task = asyncio.create_task(sink.run())
            wt = asyncio.create_task(watch.run())
            try:
                await eventually(lambda: sink.connected)
                assert "delivery" not in tech.active  # connected and nothing to send
                outbox.add_alert_events([big, alert(2)])  # a high alarm behind it
                outbox.commit()
                sink.wake()
                await eventually(lambda: "delivery" in tech.active, 8.0,
                                 "the delivery alarm, with the chair reconnecting")  # fmt: skip
                assert sink.stats.connects > 1  # it did reconnect: a CONNACK is no cure
                assert outbox.backlog("mqtt") == 2  # neither is marked delivered
                # Backoff is not reset by a CONNACK any more: it grows to its cap, 0.25-0.5 s
                # (at most 8 in 2 s; reset at every CONNACK it was 0.05-0.1 s, ~20).
                n0 = sink.stats.connects
                await asyncio.sleep(2.0)
                assert sink.stats.connects - n0 <= 10, sink.stats.connects - n0
                # The oversize event is removed (an operator's fix, here by hand): the
                # next connection delivers the alarm behind it and the alarm clears.
                outbox.mark_delivered("mqtt", [r.id for r in outbox.fetch("mqtt", 1)])
                sink.wake()
                await eventually(lambda: "delivery" not in tech.active, 10.0, "cleared")
                assert outbox.backlog("mqtt") == 0
            finally:
                for t in (task, wt):
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
