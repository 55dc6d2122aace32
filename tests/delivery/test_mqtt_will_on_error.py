"""A chair's connection that ends on an error leaves its `status` retained `offline`.

The contract: `…/status` is QoS 1 retained, `online` on connect, and `offline` both on a
clean stop and as the Last Will, so the nurses' station shows a chair whose link is gone.
A broker publishes the Will only when a connection ends without a DISCONNECT, or with an
MQTT v5 DISCONNECT of reason 0x04 "Disconnect with Will Message". aiomqtt leaves its
`async with` by sending a normal DISCONNECT (0x00) whatever ended it, so a connection that
ended on an error (a bug in the sink's loop, a publish the broker did not answer in time)
had its Will discarded: the retained status stayed `online` while that chair's link was
down, until a reconnect (which waits for its backoff, or fails). Real mosquitto; the
reconnect is held off by a long backoff so the status between is what is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "site-w"
HOLD_OFF_S = 120.0  # no reconnect (it would republish `online`) while the test looks


async def no_command(chair: str, cmd: Command) -> str | None:
    return None


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def make_sink(broker: Mosquitto, prefix: str, outbox: Outbox) -> MqttSink:
    cfg = MqttConfig(host=broker.host, port=broker.port, prefix=prefix, timeout_s=1)
    return MqttSink(
        cfg, SITE, ["chair-1"], outbox, no_command,
        backoff_base_s=HOLD_OFF_S, backoff_cap_s=HOLD_OFF_S,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(sink: MqttSink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(sink.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(10):
                await task


def states(obs: Observer) -> list[Any]:
    return [s["state"] for s in obs.of("/status")]


async def retained_state(broker: Mosquitto, topic: str) -> str:
    """What a station that starts now reads: the retained status."""
    async with Observer(broker, [topic]) as fresh:
        await eventually(lambda: fresh.of("/status"), 10, "a retained status")
        return str(fresh.of("/status")[0]["state"])


async def test_a_bug_in_the_sink_loop_leaves_the_chair_offline(
    mosquitto: Mosquitto, mqtt_prefix: str, outbox: Outbox
) -> None:
    topic = f"{mqtt_prefix}/{SITE}/chair-1/status"
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    async with Observer(mosquitto, [topic]) as obs, running(sink):
        await eventually(lambda: states(obs) == ["online"], 10, "online")
        # A bug upstream: an active set JSON cannot encode. The sink's loop raises,
        # the chair's connection ends ("internal error") and waits for its backoff.
        sink.set_active("chair-1", [{"alert_id": "a-1", "ack": {"not", "json"}}])
        await eventually(lambda: "internal error" in (sink.stats.last_error or ""), 10)
        await eventually(lambda: not sink.connected, 10)
        await eventually(lambda: states(obs) == ["online", "offline"], 10, "the Last Will")
        assert await retained_state(mosquitto, topic) == "offline"


async def test_a_publish_the_broker_did_not_answer_leaves_the_chair_offline(
    mosquitto: Mosquitto, mqtt_prefix: str, outbox: Outbox
) -> None:
    topic = f"{mqtt_prefix}/{SITE}/chair-1/status"
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    async with Observer(mosquitto, [topic]) as obs, running(sink):
        await eventually(lambda: states(obs) == ["online"], 10, "online")
        # The broker stalls (SIGSTOP) under a publish: no PUBACK within mqtt.timeout_s,
        # the connection is given up while its socket is still open. What the daemon
        # said on leaving is read by the broker when it runs again.
        mosquitto.pause()
        try:
            sink.set_active("chair-1", [])
            await eventually(lambda: "no answer" in (sink.stats.last_error or ""), 10)
        finally:
            mosquitto.resume()
        await eventually(lambda: states(obs)[-1:] == ["offline"], 10, "the Last Will")
        assert states(obs) == ["online", "offline"]
        assert await retained_state(mosquitto, topic) == "offline"


async def test_a_clean_stop_says_offline_once_with_its_own_time(
    mosquitto: Mosquitto, mqtt_prefix: str, outbox: Outbox
) -> None:
    # The stop publishes its `offline` (the stop's time) and leaves normally: the Will
    # (from connect time) must not follow it.
    topic = f"{mqtt_prefix}/{SITE}/chair-1/status"
    sentinel = f"{mqtt_prefix}/sentinel"
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    async with Observer(mosquitto, [topic, sentinel]) as obs:
        async with running(sink):
            await eventually(lambda: states(obs) == ["online"], 10, "online")
            await asyncio.sleep(0.05)  # a stop time after the connect time
        # A Will goes out as the broker reads the DISCONNECT, before the sink's run ends;
        # a publish after that reaches the observer after it (one subscriber, in order).
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as c:
            await c.publish(sentinel, b"{}", 1)
        await eventually(lambda: obs.of("sentinel"), 10, "the sentinel")
        online, offline = obs.of("/status")
        assert states(obs) == ["online", "offline"]
        assert offline["time"] > online["time"]
