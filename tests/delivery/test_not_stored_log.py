"""A command applied in a batch the store could not take is answered on `cmd/errors` with
`code: "not_stored"` (docs/mqtt.md): no refusal, the station words it as done. The
daemon's own log said otherwise: "MQTT: rejected command on ...: applied, but not yet
stored ..." at WARNING, so the journal of a full disk read as if every ACK and Dose start
of the nurses had been turned down. Now the line says the command was applied, at INFO
(the store's own technical alarm is the CRITICAL line that says the disk is in trouble);
a real refusal is still "rejected command" at WARNING.

Real mosquitto and the daemon's MQTT sink; its `on_command` answers as the chair does for
a batch held by a full disk (`storebatch.not_stored`) or refuses an unknown alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.models import Refusal
from monitord.outbox import Outbox
from monitord.sinks.commands import AckCommand, Command
from monitord.sinks.mqtt import MqttSink
from monitord.storebatch import not_stored
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def answer(chair: str, cmd: Command) -> str | None:
    """The chair's answers: an ACK of `held` was applied in a held batch, others unknown."""
    assert isinstance(cmd, AckCommand)
    if cmd.alert_id == "held":
        return not_stored("no space left on the device")
    return Refusal(f"unknown alert {cmd.alert_id} on {chair}", "unknown", alert_id=cmd.alert_id)


async def test_an_applied_command_not_stored_is_not_logged_as_rejected(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, answer, backoff_base_s=0.1, backoff_cap_s=0.5)
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    caplog.set_level(logging.DEBUG, logger="monitord")
    task = asyncio.create_task(sink.run())

    try:
        await eventually(lambda: sink.connected and sink.subscribed)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as c:  # fmt: skip
            await c.subscribe(f"{base}/cmd/errors", qos=1)
            for alert_id in ("held", "nowhere"):
                body = json.dumps({"alert_id": alert_id, "by": "nurse-1"}).encode()
                await c.publish(f"{base}/cmd/ack", body, qos=1)
            got = []
            async with asyncio.timeout(20):
                async for m in c.messages:
                    assert isinstance(m.payload, bytes)
                    got.append(json.loads(m.payload))
                    if len(got) == 2:
                        break
        assert [g.get("code") for g in got] == ["not_stored", "unknown"], got
        held = [r for r in caplog.records if "applied, but not yet stored" in r.getMessage()]
        assert len(held) == 1, caplog.text
        assert held[0].getMessage() == (
            f"MQTT: command on {base}/cmd/ack: applied, but not yet stored: the local store "
            "cannot be written (no space left on the device); held in memory until it can be"
        )
        assert held[0].levelno == logging.INFO
        refused = [r for r in caplog.records if "unknown alert nowhere" in r.getMessage()]
        assert len(refused) == 1, caplog.text
        assert refused[0].getMessage().startswith(f"MQTT: rejected command on {base}/cmd/ack")
        assert refused[0].levelno == logging.WARNING
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()
