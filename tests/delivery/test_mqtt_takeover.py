"""Two Pis with one chair file: the same site and chair id, so the same MQTT client id on
one broker (sinks/mqtt_takeover.py).

Before: the broker gave the id to whoever connected last, the two daemons took the
connection from each other at every reconnect, and each logged a WARNING "connection ...
lost: Disconnected during message iteration" and an INFO "recovered" per flap, the backoff
reset each time; nothing named the cause and `monitord status` showed `connected`.

Real `monitord run` processes with a simulated chair, on the real mosquitto of
tests/conftest.py (Debian 12's 2.0.11: it closes the old connection without the MQTT v5
DISCONNECT 0x8E, so the daemon counts reasonless closes, each reconnect accepted at once).
A single daemon whose broker restarts is not taken over; a takeover ends once the other
client is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitord.commands.status import render_connections
from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from monitord.sinks.mqtt_takeover import CLOSES, TAKEOVER_RETRY_S
from tests.delivery.helpers import alert, no_command, running
from tests.delivery.test_delivery_alarm_flapping import LimitedMosquitto
from tests.e2e.e2e_kit import DaemonProcess, mqtt_section
from tests.kit import eventually
from tests.servers import Mosquitto, session_tmpdir, unique_name

CHAIR = "chair-3"
ERROR = "is taken over by another client"

SCENARIO = "\n".join(
    ['{"t": 0, "event": "session_start", "protocol": "esketamine"}']
    + [f'{{"t": {t}, "event": "spo2", "spo2": 97, "pulse": 70}}' for t in range(1, 3600)]
)


def pi(
    tmp: Path, name: str, broker: Mosquitto, site: str, prefix: str, level: str = "INFO"
) -> Path:
    """One Pi's config: its own store, the chair file every Pi got a copy of."""
    d = tmp / name
    d.mkdir()
    (d / "s.jsonl").write_text(SCENARIO + "\n")
    cfg = d / "monitord.toml"
    cfg.write_text(
        f"""
log_level = "{level}"
[site]
id = "{site}"
{mqtt_section(broker, prefix, alarm_after_s=30.0)}
[influx]
enabled = false
[storage]
path = "{d / "outbox.sqlite"}"
commit_interval_s = 0.2
[[chairs]]
id = "{CHAIR}"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  simulate = "{d / "s.jsonl"}"
  simulate_speed = 1.0
"""
    )
    return cfg


def sink(
    tmp: Path,
    name: str,
    mq: MqttConfig,
    site: str,
    chairs: list[str] | None = None,
    *,
    backoff: tuple[float, float] = (0.1, 0.5),
) -> MqttSink:
    """One daemon's MQTT sink with a store of its own; `backoff` (base, cap): by default
    reconnects 0.1-0.5 s apart, so a connection held 1 s ends a takeover."""
    path = tmp / f"{name}.sqlite"
    out = Outbox(path, StorageConfig(path=path))
    return MqttSink(mq, site, chairs or [CHAIR], out, no_command, backoff_base_s=backoff[0],
                    backoff_cap_s=backoff[1])  # fmt: skip


def status_json(cfg: Path) -> dict[str, Any]:
    """`monitord status --json`; {} before the daemon made its store."""
    run = [sys.executable, "-m", "monitord", "status", "--json", "--config", str(cfg)]
    p = subprocess.run(run, capture_output=True, text=True, timeout=60)
    doc: dict[str, Any] = json.loads(p.stdout) if p.returncode == 0 else {}
    return doc


def status_text(cfg: Path) -> str:
    run = [sys.executable, "-m", "monitord", "status", "--config", str(cfg)]
    return subprocess.run(run, capture_output=True, text=True, timeout=60, check=True).stdout


def mqtt_conn(cfg: Path) -> dict[str, Any]:
    conns = status_json(cfg).get("connections") or {}
    mqtt: dict[str, Any] = conns.get("mqtt") or {}
    return mqtt


def error_lines(d: DaemonProcess) -> list[str]:
    lines = d.output().splitlines()
    return [ln for ln in lines if ERROR in ln and "ERROR monitord.sinks.mqtt: " in ln]


def retries(d: DaemonProcess) -> list[float]:
    """The reconnect waits logged from the takeover's ERROR line on (its repeats at DEBUG)."""
    lines = d.output().splitlines()
    first = next((i for i, ln in enumerate(lines) if ERROR in ln), len(lines))
    return [
        float(m.group(1))
        for ln in lines[first:]
        if ERROR in ln and (m := re.search(r"retrying in ([0-9.]+) s", ln))
    ]


async def wait_status(cfg: Path, pred: Any, what: str, within_s: float = 60) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        conn = await asyncio.to_thread(mqtt_conn, cfg)
        if pred(conn):
            return conn
        assert loop.time() < deadline, f"{what} not shown within {within_s} s: {conn}"
        await asyncio.sleep(0.3)


async def test_two_pis_with_one_chair_file_say_so_in_the_log_and_status(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    site = unique_name("site")
    ident = f"monitord-{site}-{CHAIR}"
    daemons = [
        DaemonProcess(
            pi(tmp_path, name, mosquitto, site, mqtt_prefix, "DEBUG"), tmp_path / f"{name}.log"
        )
        for name in ("pi-a", "pi-b")
    ]
    for d in daemons:
        d.start()
    try:
        await eventually(
            lambda: all(error_lines(d) for d in daemons),
            60,
            "the takeover's ERROR line in both daemons' logs",
        )
        for d in daemons:
            (line,) = error_lines(d)  # once; the repeats at DEBUG
            print(line)
            assert f"MQTT {CHAIR}: chair {CHAIR}'s connection (client id {ident})" in line
            assert "two Pis with the same chair file? give each Pi its own chair id" in line
            assert "`monitord status` on each Pi shows its chair ids" in line
            assert "retrying in" in line
            conn = await wait_status(
                d.cfg_path, lambda c: CHAIR in (c.get("taken_over") or {}), "taken_over"
            )
            taken = conn["taken_over"][CHAIR]
            assert taken["since"].startswith("20") and ERROR in taken["advice"]
            assert ident in taken["advice"]
            text = await asyncio.to_thread(status_text, d.cfg_path)
            print(text)
            head = f"connection mqtt (broker {mosquitto.host}:{mosquitto.port})"
            assert f"{head}: {CHAIR} TAKEN OVER since 20" in text
        # Still reconnecting (alerts go out between takeovers): the daemons run on, and a
        # chair's alerts never wait long for its next turn on the broker: the reconnect
        # backoff, kept growing while taken over, stops at TAKEOVER_RETRY_S (it went on to
        # its 30-s cap: 4, 8, 16 s between a chair's connections). The fifth wait from the
        # ERROR line on is the backoff's attempt 4: 4-8 s uncapped, never 2 s.
        await eventually(
            lambda: all(len(retries(d)) >= 5 for d in daemons), 60, "five retries each"
        )
        for d in daemons:
            assert max(retries(d)) <= TAKEOVER_RETRY_S, retries(d)
        assert all(d.alive for d in daemons)
    finally:
        for d in daemons:
            assert d.stop() == 0, d.output()[-3000:]


async def test_one_daemon_whose_broker_restarts_is_not_taken_over(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    site = unique_name("site")
    d = DaemonProcess(pi(tmp_path, "pi-a", mosquitto, site, mqtt_prefix), tmp_path / "a.log")
    d.start()
    try:
        await wait_status(d.cfg_path, lambda c: c.get("state") == "connected", "connected")
        # An admin restarting the broker again and again while fixing its config: each
        # time the socket closes with no reason and the next connect is accepted at once,
        # as in a takeover; fewer times in a row than sinks/mqtt_takeover.py CLOSES (5).
        for n in range(4):
            mosquitto.stop()
            mosquitto.start()
            await eventually(
                lambda: d.output().count(f"MQTT {CHAIR}: connected to") >= n + 2,  # noqa: B023
                60,
                "the reconnect after the broker's restart",
            )
        conn = await wait_status(d.cfg_path, lambda c: c.get("state") == "connected", "up")
        assert conn.get("taken_over") == {}, conn
        assert error_lines(d) == []
        assert "TAKEN OVER" not in await asyncio.to_thread(status_text, d.cfg_path)
    finally:
        mosquitto.ensure_running()
        assert d.stop() == 0, d.output()[-3000:]


async def test_the_takeover_ends_when_the_other_client_is_gone(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two sinks in this process with one client id (the backoff's cap 0.5 s, so a
    connection held 1 s ends it); one stops: the other's status clears, its log says so."""
    caplog.set_level(logging.INFO, logger="monitord.sinks.mqtt")
    site = unique_name("site")
    mq = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)

    a, b = (sink(tmp_path, name, mq, site) for name in ("a", "b"))
    ta, tb = asyncio.create_task(a.run()), asyncio.create_task(b.run())
    try:
        await eventually(lambda: CHAIR in a.link.taken_over and CHAIR in b.link.taken_over)
        assert a.link.as_dict()["taken_over"][CHAIR]["advice"].startswith(f"chair {CHAIR}'s")
        tb.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tb
        await eventually(lambda: a.link.taken_over == {}, what="the takeover's end")
        assert a.link.as_dict()["taken_over"] == {} and a.link.state == "connected"
        (said,) = [r.getMessage() for r in caplog.records if "no other client" in r.getMessage()]
        assert said.startswith(f"MQTT {CHAIR}: recovered after ")
        assert said.endswith("; connection held: no other client takes it over now")
    finally:
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)


async def test_a_broker_that_drops_us_at_an_oversized_publish_is_no_takeover(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mosquitto 2.0.11 closes the socket at a packet over its `max_packet_size` (the shipped
    config has one) with no reason, and accepts the next connect at once: as a takeover
    looks there. One daemon, nothing else with its id: it must not say "taken over" (it
    did after CLOSES reconnects, sending the admin to look for a second Pi; the delivery
    alarm and docs/operations.md "raise the limit" are what fits)."""
    caplog.set_level(logging.INFO, logger="monitord.sinks.mqtt")
    workdir = session_tmpdir("mosq-limited")
    broker = LimitedMosquitto(workdir, "max_packet_size 1024")
    broker.start()
    try:
        path = tmp_path / "outbox.sqlite"
        outbox = Outbox(path, StorageConfig(path=path))
        mq = MqttConfig(host=broker.host, port=broker.port, prefix="big", timeout_s=2)
        sink = MqttSink(mq, unique_name("site"), [CHAIR], outbox, no_command,
                        backoff_base_s=0.05, backoff_cap_s=0.2)  # fmt: skip
        big = dataclasses.replace(alert(0, CHAIR), message="SpO2 low " + "x" * 1500)
        # An alarm behind it: written right after the big one, the broker's close comes
        # as a reset (ECONNRESET, its DISCONNECT 0x95 lost), no reason from the broker.
        outbox.add_alert_events([big, alert(1, CHAIR)])
        outbox.commit()
        async with running(sink.run):
            await eventually(
                lambda: sink.stats.connects > 3 * CLOSES, 60, "reconnects at the big publish"
            )
            assert sink.link.taken_over == {}, sink.link.taken_over
            assert [r for r in caplog.records if ERROR in r.getMessage()] == []
            assert outbox.backlog("mqtt") == 2  # they never went: the broker drops us at it
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_taken_over_the_waits_stay_short_through_a_broker_restart(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Taken over, the backoff is not reset at each connection (it grows) and only the
    takeover's own closes were capped at TAKEOVER_RETRY_S. A broker restart meanwhile (a
    connect refused: the count of closes starts again) gave the grown backoff back: waits
    of 8-30 s between a chair's turns, its alerts with them, until CLOSES more closes."""
    caplog.set_level(logging.DEBUG, logger="monitord.sinks.mqtt")
    site = unique_name("site")
    mq = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    # The default cap (30 s) from a base of 0.1 s (the default 0.5 s): the flaps before the
    # takeover is seen (the backoff reset at each connection) come 5 times sooner.
    sinks = [sink(tmp_path, name, mq, site, backoff=(0.1, 30.0)) for name in ("a", "b")]
    links = [s._chairs[CHAIR] for s in sinks]

    def waits(since: int) -> list[float]:
        return [
            float(m.group(1))
            for r in caplog.records[since:]
            if r.name == "monitord.sinks.mqtt"
            and (m := re.search(r"retrying in ([0-9.]+) s", r.getMessage()))
        ]

    tasks = [asyncio.create_task(s.run()) for s in sinks]
    try:
        # Grown enough that an uncapped wait cannot pass for a capped one: the next is
        # 3.2-6.4 s (its attempt 6; 0.1 s x 2^6 at most), TAKEOVER_RETRY_S is 2 s.
        await eventually(
            lambda: all(c.takeover.active and c.backoff.attempts >= 6 for c in links),
            90,
            "both taken over, the backoff grown (3.2-6.4 s uncapped)",
        )
        mark = len(caplog.records)
        mosquitto.stop()
        # Each refused once (the count of closes starts again), while still taken over.
        await eventually(lambda: all(c.takeover.closes == 0 for c in links), 30, "refused")
        assert all(c.takeover.active for c in links)
        assert waits(mark) and max(waits(mark)) <= TAKEOVER_RETRY_S, waits(mark)
        mosquitto.start()
        mark = len(caplog.records)
        # Taken over again at once, the count of closes from 0: uncapped, each of the first
        # CLOSES waits of both would be the grown backoff; two (each sink's first close,
        # a wait of 2 s each) show it.
        await eventually(lambda: len(waits(mark)) >= 2, 60, "two waits after the restart")
        assert max(waits(mark)) <= TAKEOVER_RETRY_S, waits(mark)
    finally:
        mosquitto.ensure_running()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class IdleResetProxy:
    """A TCP proxy to the broker that forgets a connection idle for `idle_s` (a NAT or
    firewall with a short idle timeout): the next packet from the client is answered with
    a reset (RST), the broker's side closed. Each reconnect passes."""

    def __init__(self, target: Mosquitto, idle_s: float) -> None:
        self.target, self.idle_s = target, idle_s
        self.resets = 0

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(self.target.host, self.target.port)
        loop = asyncio.get_running_loop()
        last = [loop.time()]

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
            with contextlib.suppress(OSError):
                while data := await r.read(65536):
                    if up and loop.time() - last[0] > self.idle_s:  # the flow is forgotten
                        self.resets += 1
                        sock = cw.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                        cw.transport.abort()
                        break
                    last[0] = loop.time()
                    w.write(data)
                    await w.drain()
            for x in (sw, cw):
                x.close()

        await asyncio.gather(pump(cr, sw, True), pump(sr, cw, False), return_exceptions=True)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        srv = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        try:
            yield srv.sockets[0].getsockname()[1]
        finally:
            srv.close()


async def test_a_network_that_resets_idle_connections_is_no_takeover(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No device on the chair (between patients): only the keepalive's PINGREQ goes out,
    and a firewall that forgets idle flows sooner than that answers it with a reset. The
    close has no reason and the next connect is accepted at once, each connection shorter
    than the takeover's hold (2 x the backoff's cap): after CLOSES of them one daemon said
    it was taken over (the keepalive 2 s here stands for the default 30 s, hold 60 s)."""
    caplog.set_level(logging.INFO, logger="monitord.sinks.mqtt")
    proxy = IdleResetProxy(mosquitto, idle_s=1.5)
    async with proxy.serving() as port:
        mq = MqttConfig(host="127.0.0.1", port=port, prefix=mqtt_prefix, timeout_s=2)
        # 2 s, under the config's floor of 5 s (validated for operators; model_copy does
        # not validate): CLOSES idle connections cost 10 s here, not 25 s.
        mq = mq.model_copy(update={"keepalive_s": 2})
        path = tmp_path / "outbox.sqlite"
        sink = MqttSink(mq, unique_name("site"), [CHAIR], Outbox(path, StorageConfig(path=path)),
                        no_command)  # fmt: skip
        async with running(sink.run):
            # CLOSES resets, each seen by the sink before its next connect (the first
            # connect plus one after each): the count that said "taken over" before. Each
            # costs a keepalive (2 s), so no more of them than that.
            await eventually(
                lambda: proxy.resets >= CLOSES and sink.stats.connects > CLOSES,
                120,
                f"{CLOSES} idle connections reset and reconnected after",
            )
            assert sink.link.taken_over == {}, sink.link.taken_over
            assert [r for r in caplog.records if ERROR in r.getMessage()] == []


async def test_one_chairs_takeover_leaves_the_other_chairs_alone(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A daemon with two chairs, one of them in another's chair file too: only that
    chair is taken over; the other's connection, backoff and status stay as they were."""
    site = unique_name("site")
    mq = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    sinks = [sink(tmp_path, "a", mq, site, [CHAIR, "chair-4"]), sink(tmp_path, "b", mq, site)]
    a, b = sinks
    other = a._chairs["chair-4"]
    tasks = [asyncio.create_task(s.run()) for s in sinks]
    try:
        await eventually(lambda: other.connected, 30, "chair-4 connected")
        await eventually(lambda: CHAIR in a.link.taken_over and CHAIR in b.link.taken_over)
        taken = a._chairs[CHAIR]
        await eventually(lambda: taken.backoff.attempts >= 3, 30, "chair-3's backoff grown")
        assert list(a.link.taken_over) == [CHAIR]
        assert other.connected and other.down_since is None
        assert not other.takeover.active and other.takeover.closes == 0
        assert other.backoff.attempts == 0 and not other.flog.failing
        shown = [ln for ln in render_connections({"mqtt": a.link.as_dict()}) if "TAKEN" in ln]
        assert len(shown) == 1 and f": {CHAIR} TAKEN OVER since " in shown[0], shown
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def retained_status(broker: Mosquitto, topic: str) -> dict[str, Any]:
    """The retained message on `topic`, as a station subscribing now gets it."""
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            async for m in c.messages:
                doc: dict[str, Any] = json.loads(bytes(m.payload))
                return doc
    raise AssertionError(f"no retained message on {topic}")


async def test_the_chairs_status_says_conflict_while_taken_over(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The nurses' station reads the chair's retained `status`: while two sinks with one
    client id take its connection from each other, it carries `conflict` (the station
    marks the tile: two patients' vitals under one chair); once one stops and the other's
    takeover ends, a status without it follows on the held connection (docs/mqtt.md)."""
    site = unique_name("site")
    topic = f"{mqtt_prefix}/{site}/{CHAIR}/status"
    mq = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    a, b = (sink(tmp_path, name, mq, site) for name in ("a", "b"))
    ta, tb = asyncio.create_task(a.run()), asyncio.create_task(b.run())
    try:
        await eventually(lambda: CHAIR in a.link.taken_over and CHAIR in b.link.taken_over)
        # Each connection from now on announces it: every `online` read here carries it
        # (the Will the broker publishes at each takeover never does: ChairLink.status).
        onlines = 0
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as w:
            await w.subscribe(topic, qos=1)
            async with asyncio.timeout(30):
                async for m in w.messages:
                    doc = json.loads(bytes(m.payload))
                    if doc["state"] == "online":
                        assert doc.get("conflict") == "another client uses this chair's id", doc
                        onlines += 1
                    else:
                        assert "conflict" not in doc, doc
                    if onlines >= 3:
                        break
        tb.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tb
        await eventually(lambda: a.link.taken_over == {}, what="the takeover's end")
        # The status without it, on the held connection: what a station subscribing
        # later gets too (a connection's own status, not one of the reconnects).
        connects = a.stats.connects
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as w:
            await w.subscribe(topic, qos=1)
            try:
                async with asyncio.timeout(10):
                    async for m in w.messages:
                        if "conflict" not in json.loads(bytes(m.payload)):
                            break
            except TimeoutError:
                raise AssertionError("the status still says `conflict` after the end") from None
        doc = await retained_status(mosquitto, topic)
        assert doc["state"] == "online" and set(doc) == {"state", "time", "version"}, doc
        assert a.stats.connects == connects and a.link.taken_over == {}
    finally:
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)


class CuttableProxy:
    """A TCP proxy to the broker whose `cut` drops every connection through it at once,
    without a DISCONNECT, and takes no more (the Pi's network gone for good): the broker
    publishes each connection's Will."""

    def __init__(self, target: Mosquitto) -> None:
        self.target = target
        self.writers: list[asyncio.StreamWriter] = []
        self.srv: asyncio.Server | None = None

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(self.target.host, self.target.port)
        self.writers += [cw, sw]

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            for x in (sw, cw):
                x.close()

        await asyncio.gather(pump(cr, sw), pump(sr, cw), return_exceptions=True)

    def cut(self) -> None:
        assert self.srv is not None
        self.srv.close()
        for w in self.writers:
            w.transport.abort()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        self.srv = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        try:
            yield self.srv.sockets[0].getsockname()[1]
        finally:
            self.srv.close()


async def test_a_will_after_the_takeover_ended_says_no_conflict(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The takeover ends on a connection made while it lasted. Before, that connection's
    Will, set at its connect, still said `conflict`: when its Pi later went away unclean
    (power, network), the broker published it and the station showed the chair TWO
    MONITORS, call IT, for good, a conflict over since. The Will never says it now (the
    station keeps a chair's conflict through an `offline` without it, docs/mqtt.md)."""
    site = unique_name("site")
    topic = f"{mqtt_prefix}/{site}/{CHAIR}/status"
    proxy = CuttableProxy(mosquitto)
    async with proxy.serving() as port:
        a, b = (
            sink(tmp_path, name, MqttConfig(host=mosquitto.host, port=p, prefix=mqtt_prefix,
                                            timeout_s=2), site)
            for name, p in (("a", port), ("b", mosquitto.port))
        )  # fmt: skip
        ta, tb = asyncio.create_task(a.run()), asyncio.create_task(b.run())
        try:
            await eventually(lambda: CHAIR in a.link.taken_over and CHAIR in b.link.taken_over)
            tb.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tb
            await eventually(lambda: a.link.taken_over == {}, what="the takeover's end")
            await eventually(lambda: not a._chairs[CHAIR].announce_due, what="status again")
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as w:
                await w.subscribe(topic, qos=1)
                async with asyncio.timeout(10):
                    async for m in w.messages:  # the retained one first
                        if "conflict" not in json.loads(bytes(m.payload)):
                            break
                proxy.cut()  # a's Pi is gone: the broker publishes its connection's Will
                async with asyncio.timeout(10):
                    async for m in w.messages:
                        doc = json.loads(bytes(m.payload))
                        if doc["state"] == "offline":
                            break
            assert "conflict" not in doc, doc
            assert "conflict" not in await retained_status(mosquitto, topic)
        finally:
            for t in (ta, tb):
                t.cancel()
            await asyncio.gather(ta, tb, return_exceptions=True)
