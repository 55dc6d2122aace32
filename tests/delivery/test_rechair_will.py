"""A chair whose connection the broker accepted (CONNACK) but none of whose publishes it
took before the connection dropped, then the chair id changed (docs/operations.md, "A Pi
moved to another chair").

The broker holds the chair's Last Will (`offline` on its status topic, retained) from the
CONNACK and publishes it when the connection is cut without a DISCONNECT (mosquitto
src/context.c, `context__send_will`). Before, `reached_broker` was set only at a first
accepted publish: the next start after the id change said at INFO that the broker "keeps
nothing" of the old id, while every station showed it OFFLINE. Now a CONNACK counts, and
it is in the store at once (a Pi losing power a moment after still says it).

A real mosquitto behind a relay of the test's that lets the CONNECT through and the
broker's answers back, and nothing else of the client's (its SUBSCRIBE, PUBLISH and
DISCONNECT); the relay then drops the broker's side. One real `monitord run`, killed
(SIGKILL) once its store has the record; the next start's check in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitord.config import load_config
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.storeguard import StoreGuard
from monitord.storeroutes import route_queues
from tests.e2e.e2e_kit import (
    CHAIR,
    SITE,
    DaemonProcess,
    Store,
    daemon_in_process,
    mqtt_section,
    port_path,
    write_config,
)
from tests.kit import eventually
from tests.servers import Mosquitto

MOVED = "chair-9"  # the id the Pi is given next


async def read_packet(reader: asyncio.StreamReader) -> bytes:
    """One MQTT control packet: its fixed header (type, remaining length) and body."""
    head = await reader.readexactly(1)
    size, shift = 0, 0
    while True:
        byte = await reader.readexactly(1)
        head += byte
        size |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return head + await reader.readexactly(size)


class ConnectOnly:
    """A relay to `broker`: the first client's CONNECT goes through and the broker's
    answers come back (its CONNACK); nothing else the client sends goes on, so the broker
    accepts none of its publishes. Later connections are closed at once. `cut()` drops
    the broker's side without a DISCONNECT (a connection lost)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.port = 0
        self.to_broker: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ConnectOnly:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        self.cut()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.to_broker is not None:
            writer.close()
            return
        br, self.to_broker = await asyncio.open_connection(self.broker.host, self.broker.port)
        self.to_broker.write(await read_packet(reader))  # the CONNECT, with its will
        await self.to_broker.drain()
        self.tasks += [
            asyncio.create_task(self._answers(br, writer)),
            asyncio.create_task(self._swallow(reader)),
        ]

    @staticmethod
    async def _answers(br: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await br.read(4096):
                writer.write(data)
                await writer.drain()

    @staticmethod
    async def _swallow(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass

    def cut(self) -> None:
        if self.to_broker is not None:
            self.to_broker.transport.abort()


def retained_status(broker: Mosquitto, topic: str) -> dict[str, Any] | None:
    """The retained message on `topic` as a station subscribing now gets it (mosquitto_sub)."""
    p = subprocess.run(
        ["mosquitto_sub", *broker.pub_args(), "-t", topic, "-C", "1", "-W", "2",
         "--retained-only"],
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return json.loads(p.stdout) if p.stdout.strip() else None


def next_start_says(cfg: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the start after the id change says of the departed chair (its store check)."""
    config = load_config(cfg)
    caplog.clear()
    with caplog.at_level(logging.INFO, "monitord"):
        ob = Outbox(config.storage.path, config.storage)
        try:
            route_queues(ob, config)
        finally:
            ob.close()
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records if CHAIR in r.getMessage()]


async def test_a_connection_cut_before_any_publish_leaves_its_will_and_is_said(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/status"
    async with ConnectOnly(mosquitto) as relay:
        mqtt = (
            f'\n[mqtt]\nhost = "127.0.0.1"\nport = {relay.port}\nprefix = "{mqtt_prefix}"\n'
            "keepalive_s = 5\ntimeout_s = 2.0\n"
        )
        cfg = write_config(tmp_path, mqtt=mqtt)
        d = DaemonProcess(cfg, tmp_path / "run.log")
        d.start()
        store = Store(tmp_path / "outbox.sqlite")
        try:
            # Before: never, as no publish of it was accepted.
            await eventually(
                lambda: CHAIR in ((store.state("daemon") or {}).get("reached_broker") or []),
                30,
                "the accepted connection recorded",
            )
            d.kill()  # the Pi loses power: no stop, no last status write
        finally:
            if d.alive:
                d.kill()
        assert "connected to" in d.output(), d.output()
        relay.cut()  # its connection lost: the broker publishes the will
        await eventually(
            lambda: retained_status(mosquitto, topic) is not None, 30, "the will retained"
        )
    will = retained_status(mosquitto, topic)
    assert will is not None and will.get("state") == "offline", will

    cfg.write_text(cfg.read_text().replace(f'id = "{CHAIR}"', f'id = "{MOVED}"'))
    said = next_start_says(cfg, caplog)
    assert len(said) == 1 and said[0].startswith("WARNING "), said
    assert "the broker keeps its retained status (offline)" in said[0], said


@pytest.fixture
def at_connack() -> Iterator[list[tuple[str, list[str]]]]:
    """The `daemon` rows put for a commit at once while the sink takes a CONNACK in:
    (chair, that row's `reached_broker`)."""
    seen: list[tuple[str, list[str]]] = []
    taking: list[str] = []
    connack, put_live = MqttSink.connected_with_will, StoreGuard.put_live

    def connected(self: MqttSink, chair: str) -> None:
        taking.append(chair)
        try:
            connack(self, chair)
        finally:
            taking.pop()

    def put(
        self: StoreGuard, key: str, value: Any, signature: Any = None, *, now: bool = False
    ) -> None:
        if taking and key == "daemon" and now:
            seen.append((taking[-1], list(value.get("reached_broker", []))))
        put_live(self, key, value, signature, now=now)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MqttSink, "connected_with_will", connected)
        mp.setattr(StoreGuard, "put_live", put)
        yield seen


async def test_each_chairs_connack_is_recorded_at_once(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    at_connack: list[tuple[str, list[str]]],
) -> None:
    # Two chairs: the first one's CONNACK changes no link state (the other is still
    # connecting), so before, nothing wrote the row until the next status write (up to
    # ALIVE_POLL_S later): a Pi losing power meanwhile lost the record.
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix))
    second = cfg.read_text().split("[[chairs]]")[1].replace(CHAIR, "chair-2")
    cfg.write_text(
        cfg.read_text()
        + "[[chairs]]"
        + second.replace(str(port_path(tmp_path)), str(tmp_path / "ox2.tty"))
    )
    async with daemon_in_process(cfg) as daemon:
        assert daemon.mqtt is not None
        sink = daemon.mqtt
        await eventually(lambda: sink.reached() == {CHAIR, "chair-2"}, 30, "both connected")
    said = dict(at_connack)
    assert set(said) == {CHAIR, "chair-2"}, at_connack
    for chair, reached in said.items():
        assert chair in reached, at_connack
