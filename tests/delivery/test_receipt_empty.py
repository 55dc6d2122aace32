"""docs/delivery.md: "A receipt that is not the contract's is logged with what is wrong and
ignored". An empty receipt sent live (not retained: no clearing of a retained one) was
dropped without a word, the one malformed receipt nobody was told of: a station whose
receipts come empty (a template that renders nothing, a bridge that loses the body) left
`delivery.unheard` to stand with no line saying why. Now it is refused as every other
malformed receipt is. Real mosquitto, the daemon's MQTT sink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from tests.delivery.helpers import no_command
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def test_an_empty_receipt_is_said_not_dropped_silently(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command,
                    backoff_base_s=0.1, backoff_cap_s=0.5)  # fmt: skip
    topic = f"{mqtt_prefix}/{SITE}/chair-1/alerts/receipts"
    caplog.set_level(logging.DEBUG, logger="monitord")
    task = asyncio.create_task(sink.run())

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if f"receipt on {topic}" in r.getMessage()]

    try:
        await eventually(lambda: sink.connected and sink.subscribed)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
            await c.publish(topic, b"", qos=1)
            await c.publish(topic, b"[]", qos=1)  # a malformed one after it: said
        await eventually(lambda: any("not a JSON object" in m for m in said()), 10, "the [] one")
        assert any("ignored: empty: a receipt is a JSON object" in m for m in said()), said()
        assert sink.receipts.received == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
