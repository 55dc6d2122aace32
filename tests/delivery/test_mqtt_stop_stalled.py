"""A stop of a connection whose broker stalled ends cancelled, not on an MqttError.

A clean stop (the daemon's chair loop, the station's bridge) publishes its own `offline`,
and once the broker acknowledged it leaves through aiomqtt's own graceful disconnect,
which waits up to the client's timeout for its DISCONNECT to be written. When the broker
stalls (SIGSTOP) and the socket cannot take the DISCONNECT, that wait timed out and its
MqttError replaced the CancelledError of the stop: the station's bridge and the daemon's
chair loop catch an MqttError and reconnect, so the stop went on until systemd killed the
process. Not reproduced end to end (the kernel takes the few bytes of a DISCONNECT after
an acknowledged publish; see the report): here the socket is filled on purpose, with
both ways out of `V5Client.__aexit__` (its own `offline` said, or the Will's). Real
mosquitto paused; the stop and the socket's state are set, not raced.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from monitord.aio import within
from monitord.mqttv5 import V5Client
from tests.servers import Mosquitto

CHUNK = 64 * 1024
MAX_CHUNKS = 4096  # 256 MiB: far beyond what loopback buffers hold for a stopped reader


@pytest.mark.parametrize("said_offline", [True, False], ids=["offline-said", "will"])
async def test_a_stop_with_the_broker_stalled_ends_cancelled(
    mosquitto: Mosquitto, mqtt_prefix: str, said_offline: bool
) -> None:
    status = f"{mqtt_prefix}/site/chair-1/status"
    client = V5Client(
        mosquitto.host,
        mosquitto.port,
        identifier=f"{mqtt_prefix}-stalled",
        will=aiomqtt.Will(status, b"offline", 1, True),
        timeout=0.5,  # the DISCONNECT wait: short, it is bound to time out here
    )
    inside = asyncio.Event()

    async def connection() -> None:
        async with client:
            client.said_offline = said_offline
            inside.set()
            await asyncio.Event().wait()  # served until stopped

    task = asyncio.create_task(connection())
    try:
        await within(inside.wait(), 10)
        mosquitto.pause()
        # The stalled broker reads nothing: fill the socket until paho keeps a remainder,
        # so the DISCONNECT queues behind it and never goes out.
        for _ in range(MAX_CHUNKS):
            if client._client.want_write():
                break
            client.publish_now(f"{mqtt_prefix}/filler", b"x" * CHUNK, 0, False)
        else:
            raise AssertionError(f"the socket took {MAX_CHUNKS} x {CHUNK} bytes")
        task.cancel()  # the stop
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the stop did not end the connection in 10 s"
        assert task.cancelled(), f"the stop ended on {task.exception()!r}, not cancelled"
    finally:
        task.cancel()
        client._client._sock_close()  # the unsent remainder: not for the broker to read
        mosquitto.resume()
