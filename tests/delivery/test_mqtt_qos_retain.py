"""design.md section 6, the QoS / retain column, held against a real mosquitto.

`vitals/{kind}` is QoS 0 and retained (the last value), `alerts/events` QoS 1 and not
retained (every event once, never a stale one replayed to a new station), `alerts/active`
QoS 1 and retained. A subscriber asks for QoS 2, so the QoS it is given is the one the
sink published with (MQTT delivers min(published, subscribed)); the retain flag is read
on a subscriber that comes after the publishes (a live message never carries it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
from helpers import alert, reading

from monitord.config import MqttConfig, StorageConfig
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from tests.kit import eventually
from tests.servers import Mosquitto, unique_name

SITE = "site-a"


async def _no_cmd(chair: str, cmd: Command) -> str | None:
    return None


@contextlib.asynccontextmanager
async def _subscriber(
    broker: Mosquitto, topic: str, got: list[tuple[str, int, bool]]
) -> AsyncIterator[aiomqtt.Client]:
    """Records (topic suffix after the chair, delivered QoS, retain flag)."""
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=unique_name("qos"), timeout=2
    ) as c:
        await c.subscribe(topic, qos=2)

        async def read() -> None:
            async for m in c.messages:
                got.append((str(m.topic).split("/chair-1/", 1)[1], m.qos, m.retain))

        task = asyncio.create_task(read())
        try:
            yield c
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_vitals_qos0_retained_events_qos1_active_qos1_retained(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    db = tmp_path / "outbox.sqlite"
    outbox = Outbox(db, StorageConfig(path=db))
    sink = MqttSink(
        MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2),
        SITE,
        ["chair-1"],
        outbox,
        _no_cmd,
    )
    topic = f"{mqtt_prefix}/{SITE}/chair-1/#"
    live: list[tuple[str, int, bool]] = []
    task = asyncio.create_task(sink.run())
    try:
        async with _subscriber(mosquitto, topic, live):
            await eventually(lambda: sink.connected)
            hr = reading(1)  # an HR sample
            assert hr.kind == Kind.HR
            sink.publish_vitals(hr)
            outbox.add_alert_events([alert(0)])
            outbox.commit()
            sink.wake()
            active = [{"alert_id": "a-00000", "priority": "high", "state": "active", "ack": False}]
            sink.set_active("chair-1", active)
            want = {"vitals/hr", "alerts/events", "alerts/active"}
            await eventually(lambda: want <= {s for s, _, _ in live}, what=f"{want} live")
        live_qos = {s: q for s, q, _ in live if s in want}
        assert live_qos == {"vitals/hr": 0, "alerts/events": 1, "alerts/active": 1}

        late: list[tuple[str, int, bool]] = []
        async with _subscriber(mosquitto, topic, late) as c:
            # The broker queues every retained message at the subscribe; a marker this
            # client publishes after that comes back behind all of them.
            await c.publish(f"{mqtt_prefix}/{SITE}/chair-1/marker", b"x", qos=1)
            await eventually(lambda: any(s == "marker" for s, _, _ in late), what="marker")
        got = {s: (q, r) for s, q, r in late if s in want}
        assert got == {"vitals/hr": (0, True), "alerts/active": (1, True)}, late
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
