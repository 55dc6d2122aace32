"""design.md section 6, the QoS / retain column, held against a real mosquitto.

`vitals/{kind}` is QoS 0 and retained (the last value), `alerts/events` QoS 1 and not
retained (every event once, never a stale one replayed to a new station), `alerts/active`
QoS 1 and retained, and so is `status`, also as the Last Will. A subscriber asks for QoS
2, so the QoS it is given is the one the sink published with (MQTT delivers
min(published, subscribed)); the retain flag is read on a subscriber that comes after the
publishes (a live message never carries it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
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
HERE = Path(__file__).resolve().parent


async def _no_cmd(chair: str, cmd: Command) -> str | None:
    return None


def _suffix_of(m: aiomqtt.Message) -> tuple[str, int, bool]:
    """(topic suffix after the chair, delivered QoS, retain flag)."""
    return (str(m.topic).split("/chair-1/", 1)[1], m.qos, m.retain)


@contextlib.asynccontextmanager
async def _subscriber(
    broker: Mosquitto,
    topic: str,
    got: list[tuple[str, int, bool]],
    describe: Callable[[aiomqtt.Message], tuple[str, int, bool]] = _suffix_of,
) -> AsyncIterator[aiomqtt.Client]:
    """A QoS 2 subscriber recording what `describe` makes of each message."""
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=unique_name("qos"), timeout=2
    ) as c:
        await c.subscribe(topic, qos=2)

        async def read() -> None:
            async for m in c.messages:
                got.append(describe(m))

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


@contextlib.asynccontextmanager
async def _statuses(broker: Mosquitto, topic: str) -> AsyncIterator[list[tuple[str, int, bool]]]:
    """A QoS 2 subscriber to one chair's status: (state, delivered QoS, retain flag)."""
    got: list[tuple[str, int, bool]] = []
    async with _subscriber(broker, topic, got, _state_of):
        yield got


def _state_of(m: aiomqtt.Message) -> tuple[str, int, bool]:
    assert isinstance(m.payload, bytes)
    return (json.loads(m.payload)["state"], m.qos, m.retain)


async def test_status_and_its_last_will_are_qos1_retained(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    """design.md section 6: `…/status` is "1, retained; also the Last Will (`offline`)". The
    Will's QoS and retain flag are set at the connect, apart from the status publishes
    (sinks/mqtt_connect.py): a Will at QoS 0 passed every test, and a station's QoS 1
    subscription would get the chair's `offline` at most once, lost with a reconnect of
    the station's own. A sink in a child process, killed (no DISCONNECT): the broker
    publishes the Will."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "mqtt_child.py"), mosquitto.host, str(mosquitto.port),
        mqtt_prefix, str(tmp_path / "child.sqlite"), stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    topic = f"{mqtt_prefix}/{SITE}/chair-1/status"
    try:
        async with asyncio.timeout(20):
            assert (await proc.stdout.readline()).strip() == b"connected"
        async with _statuses(mosquitto, topic) as live:
            await eventually(lambda: live, 10, "the online status")
            async with _statuses(mosquitto, topic) as late:
                await eventually(lambda: late, 10, "the retained online status")
            assert late == [("online", 1, True)]
            proc.kill()
            await proc.wait()
            await eventually(lambda: live[-1][0] == "offline", 10, "the Last Will")
        assert live[-1][1] == 1, live  # the Will's QoS, live
        async with _statuses(mosquitto, topic) as after:
            await eventually(lambda: after, 10, "the retained Last Will")
        assert after == [("offline", 1, True)]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
