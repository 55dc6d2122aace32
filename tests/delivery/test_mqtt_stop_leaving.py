"""A stop that comes while a failed chair connection is leaving still ends that link.

A connection that ends on an error while the socket is open (a bug in the sink's loop, a
PUBACK not answered within mqtt.timeout_s) leaves through `V5Client.__aexit__`, which
waits for its DISCONNECT (with the Will) to go out. A stop in that wait replaces the
error with CancelledError, which the chair loop's error handlers do not catch: the
chair's `down()` was skipped, so the chair still counted as connected (`sink.connected`,
the status) and its takeover hold timer stayed armed, to log a "recovered" line after
the stop on a loop that runs on. Real mosquitto; the failed connection's leave is caught
in its loop turn, as a SIGTERM can come then.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from monitord.aio import within
from monitord.config import MqttConfig, StorageConfig
from monitord.mqttv5 import V5Client
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from tests.kit import eventually
from tests.servers import Mosquitto

SITE = "site-l"
HOLD_OFF_S = 120.0  # no reconnect meanwhile: the connection that failed is the last one
LEAVE_TURNS = 2000  # loop turns for the failed connection to reach its DISCONNECT wait


async def no_command(chair: str, cmd: Command) -> str | None:
    return None


async def test_a_stop_while_a_failed_connection_leaves_ends_the_link(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=1)
    sink = MqttSink(
        cfg, SITE, ["chair-1"], outbox, no_command,
        backoff_base_s=HOLD_OFF_S, backoff_cap_s=HOLD_OFF_S,
    )  # fmt: skip
    clients: list[V5Client] = []
    make = sink._client

    def recorded(chair: str) -> V5Client:
        clients.append(make(chair))
        return clients[-1]

    sink._client = recorded  # type: ignore[method-assign]
    task = asyncio.create_task(sink.run())
    try:
        await eventually(lambda: sink.connected, 10, "chair-1 connected")
        client = clients[-1]
        # A bug upstream (as test_mqtt_will_on_error): an active set JSON cannot encode
        # ends the connection with its socket open.
        sink.set_active("chair-1", [{"alert_id": "a-1", "ack": {"not", "json"}}])
        for _ in range(LEAVE_TURNS):
            # DISCONNECT asked, not yet gone: the chair's task waits in V5Client.__aexit__.
            if not client._client.is_connected() and not client._disconnected.done():
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError(f"the failed connection did not leave in {LEAVE_TURNS} turns")
        task.cancel()  # the stop, in that turn
        with contextlib.suppress(asyncio.CancelledError):
            await within(task, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await within(task, 10)
        outbox.close()
    assert task.cancelled(), "the sink did not end cancelled"
    link = sink._chairs["chair-1"]
    assert not link.connected, "stopped while leaving, chair-1 still counts as connected"
    assert link.takeover._held is None, (
        "stopped while leaving, chair-1's takeover hold timer is still armed"
    )
