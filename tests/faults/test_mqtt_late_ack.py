"""Issue 12, defect 15 (the paho part): an ERROR with a KeyError traceback on the
`monitord.sinks.mqtt.paho` logger after a sink restart.

Cause: aiomqtt logs `Unexpected message ID "N" in on_subscribe callback` with
`logger.exception` when a SUBACK arrives for a subscribe it no longer waits for. A sink
restart cancels every chair's connection, some in the middle of their subscribe; a
subscribe that times out does the same. The broker answers anyway, late.

Reproduced deterministically with the sink's own client against the real mosquitto: the
broker is stopped (SIGSTOP) so the subscribe times out, then continued so its SUBACK
arrives; a QoS 1 publish acknowledged afterwards proves the SUBACK was processed (the
broker answers in order)."""

from __future__ import annotations

import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from tests.servers import Mosquitto


async def test_late_suback_after_a_given_up_subscribe_logs_no_error(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "outbox.sqlite"
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=5)

    async def no_command(chair: str, cmd: object) -> None:
        return None

    sink = MqttSink(cfg, "site-x", ["chair-1"], Outbox(db, StorageConfig(path=db)), no_command)
    caplog.set_level(logging.INFO)
    async with sink._client("chair-1") as client:
        mosquitto.pause()
        try:
            with pytest.raises(aiomqtt.MqttError, match="timed out"):
                await client.subscribe(f"{mqtt_prefix}/x/cmd/ack", 1, timeout=0.5)
        finally:
            mosquitto.resume()
        await client.publish(f"{mqtt_prefix}/x/sentinel", b"s", 1)  # after the SUBACK
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]
