"""docs/mqtt.md "vitals/{kind}": QoS 0, retained, the last value; "a value superseded while
the broker is away is dropped (counted), never queued" (design.md: "retained last value").
The sink dropped every reading while the chair's link was down, the last one too: after
the outage the broker kept (or, restarted, had no) value from before it, and a BP taken
during a broker restart was not on `vitals/bp` until the next cycle (5 to 15 min): the
nurses' station showed the older pressure as the chair's last. Now the newest reading of
each kind waits for the link and goes out once it is back, after the alerts; the ones it
superseded are dropped and counted. Real mosquitto, stopped and started."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path

from helpers import reading

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from tests.delivery.helpers import no_command
from tests.faults.test_mqtt_commands import retained_on
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def test_the_last_reading_taken_while_the_broker_was_away_is_published(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    p = tmp_path / "outbox.sqlite"
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    sink = MqttSink(cfg, SITE, ["chair-1"], Outbox(p, StorageConfig(path=p)), no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    topic = f"{mqtt_prefix}/{SITE}/chair-1/vitals/bp"
    before, during, last = reading(0), reading(3), reading(6)  # three BPs, in order
    task = asyncio.create_task(sink.run())
    try:
        await eventually(lambda: sink.connected)
        sink.publish_vitals(before)
        want = json.loads(json.dumps(before.to_json()))
        await retained_is(mosquitto, topic, want, "the first BP")
        await asyncio.to_thread(mosquitto.stop)
        await eventually(lambda: not sink.connected, what="sink saw the broker go")
        sink.publish_vitals(during)  # superseded by the next before the broker is back
        sink.publish_vitals(last)
        assert last.measured_at - before.measured_at == timedelta(seconds=6)
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: sink.connected, 15, "reconnected")
        want = json.loads(json.dumps(last.to_json()))
        await retained_is(mosquitto, topic, want, "the BP taken while the broker was away")
        assert sink.stats.vitals_dropped == 1  # `during`, superseded: never queued
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def retained_is(broker: Mosquitto, topic: str, want: object, what: str) -> None:
    """Waits until a new subscriber to `topic` gets `want` as its retained message."""
    got: object = None
    for _ in range(100):
        msgs = await retained_on(broker, topic)
        got = json.loads(msgs[-1]) if msgs else None
        if got == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: retained {got}, not {want}")
