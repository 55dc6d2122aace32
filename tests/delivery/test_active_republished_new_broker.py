"""docs/mqtt.md "alerts/active": "The chair's whole active set, retained, republished on
every (re)connect: a station that connects reads the current alarms at once". Nothing
held the republish: removed, every test passed, their broker keeping its retained
messages across a restart (persistence). A broker that comes back without them (its
store lost or replaced, a new broker host at the same address) then had no active set,
and a station connecting after it showed the chair with no alarm until the set next
changed. Here the broker's store is wiped while it is down; after the chair reconnects a
new subscriber reads the set and the chair's `online` status. Real mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from tests.delivery.helpers import no_command
from tests.delivery.test_vitals_after_outage import retained_is
from tests.faults.test_mqtt_commands import retained_on
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"
ACTIVE = [{"alert_id": "chair-1:spo2.low:1", "rule": "spo2.low", "priority": "high",
           "kind": "physiological", "state": "active", "ack": False}]  # fmt: skip


async def test_a_broker_back_without_its_retained_store_gets_the_active_set_again(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    broker = Mosquitto(tmp_path / "broker")  # its own: its store is wiped below
    broker.start()
    p = tmp_path / "outbox.sqlite"
    cfg = MqttConfig(host=broker.host, port=broker.port, prefix=mqtt_prefix, timeout_s=2)
    sink = MqttSink(cfg, SITE, ["chair-1"], Outbox(p, StorageConfig(path=p)), no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    task = asyncio.create_task(sink.run())
    try:
        await eventually(lambda: sink.connected)
        sink.set_active("chair-1", ACTIVE, 1_800_000_000.0)
        want = {"time": "2027-01-15T08:00:00.000Z", "alerts": ACTIVE}
        await retained_is(broker, f"{base}/alerts/active", want, "the set")
        await asyncio.to_thread(broker.stop)
        await eventually(lambda: not sink.connected, what="sink saw the broker go")
        for f in broker.datadir.iterdir():  # the broker comes back with nothing kept
            f.unlink()
        await asyncio.to_thread(broker.start)
        await eventually(lambda: sink.connected, 15, "reconnected")
        await retained_is(broker, f"{base}/alerts/active", want, "the set after the reconnect")
        status = await _retained(broker, f"{base}/status")
        assert status is not None and status["state"] == "online", status
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        broker.stop()


async def _retained(broker: Mosquitto, topic: str) -> dict[str, object] | None:
    for _ in range(100):
        got = await retained_on(broker, topic)
        if got:
            return dict(json.loads(got[-1]))
        await asyncio.sleep(0.1)
    return None
