"""config/mosquitto/ under a real mosquitto (issue 7, acceptance 4): a chair account may
publish only under its own monitord/{site}/{chair}/ and read only its own cmd/ topics; the
station accounts (one per station) read every chair and publish acks, receipts and
their own status (docs/mqtt.md, "Access control").

The broker runs the shipped monitord.conf and monitord.acl verbatim, except the
certificate/password/ACL paths and the port, which point at test material.

Refusals are shown two ways: MQTT 5 reason codes (a denied QoS 1 publish is answered with
PUBACK 0x87 "Not authorized" under v5, and acknowledged as a success under 3.1.1: issue
16), and an observer that reads everything: a refused message is absent although a later
message on the same connection arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from monitord.mqttv5 import PublishRefused, V5Client
from tests.acl_kit import REPO, SITE, AclMosquitto, quoted_in_docs
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

USERS = {
    "chair-3": "pw-chair-3",
    "chair-4": "pw-chair-4",
    "station-1": "pw-station-1",
    "station-2": "pw-station-2",
}
_ids = itertools.count()


@pytest.fixture(scope="module")
def broker(tls_material: TlsMaterial) -> Iterator[AclMosquitto]:
    workdir = session_tmpdir("mosquitto-acl")
    srv = AclMosquitto(workdir, tls=tls_material, users=USERS)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def login(
    broker: AclMosquitto, user: str, ident: str | None = None, **kw: Any
) -> AsyncIterator[aiomqtt.Client]:
    assert broker.tls is not None
    ctx = ssl.create_default_context(cafile=str(broker.tls.ca_file))
    kw.setdefault("protocol", aiomqtt.ProtocolVersion.V5)
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=USERS[user],
        identifier=ident or f"acl-{user}-{next(_ids)}",
        tls_context=ctx,
        timeout=10,
        **kw,
    ) as c:
        yield c


def t(chair: str, rest: str) -> str:
    return f"monitord/{SITE}/{chair}/{rest}"


async def collect(client: aiomqtt.Client, until: str) -> list[tuple[str, bytes]]:
    """Messages received until one arrives on topic `until` (inclusive)."""
    got: list[tuple[str, bytes]] = []
    async with asyncio.timeout(10):
        async for m in client.messages:
            got.append((str(m.topic), bytes(m.payload)))
            if str(m.topic) == until:
                return got
    raise AssertionError("unreachable")


def refused(codes: tuple[int, ...] | list[ReasonCode]) -> bool:
    return all(isinstance(c, ReasonCode) and c.is_failure for c in codes)


async def test_chair_cannot_publish_or_ack_for_another_chair(broker: AclMosquitto) -> None:
    async with login(broker, "station-1") as station, login(broker, "chair-4") as chair4:
        await station.subscribe(f"monitord/{SITE}/#", qos=1)
        await chair4.subscribe(t("chair-4", "cmd/ack"), qos=1)
        async with login(broker, "chair-3") as chair3:
            # Forbidden: chair-3 speaking for chair-4, and acking chair-4's alert.
            await chair3.publish(t("chair-4", "alerts/events"), b"forged-event", qos=1)
            await chair3.publish(t("chair-4", "vitals/bp"), b"forged-vitals", qos=1)
            await chair3.publish(t("chair-4", "cmd/ack"), b"forged-ack", qos=1)
            # Also forbidden: a chair acking even its own alerts (acks come from stations).
            await chair3.publish(t("chair-3", "cmd/ack"), b"self-ack", qos=1)
            # Allowed, afterwards on the same connection: the sentinel.
            await chair3.publish(t("chair-3", "alerts/events"), b"own-event", qos=1)
            seen = await collect(station, until=t("chair-3", "alerts/events"))
            # Then the station acks chair-4's alert, which chair-4 receives; the forged ack,
            # published before it, never arrived.
            await station.publish(t("chair-4", "cmd/ack"), b"station-ack", qos=1)
            acks = await collect(chair4, until=t("chair-4", "cmd/ack"))
    payloads = [p for _, p in seen]
    assert payloads == [b"own-event"], seen
    assert acks == [(t("chair-4", "cmd/ack"), b"station-ack")], acks


async def test_chair_reads_only_its_own_cmd_topics(broker: AclMosquitto) -> None:
    # mosquitto 2 grants every SUBSCRIBE and applies `read` per delivered message, so the
    # proof is what arrives: chair-3 subscribes to other chairs' topics (and to a wildcard
    # over the site), they are published to, and only its own cmd topics reach it.
    async with login(broker, "chair-3") as chair3:
        for topic in (
            t("chair-4", "cmd/ack"),
            t("chair-4", "cmd/session"),
            t("chair-4", "alerts/events"),
            t("chair-3", "vitals/bp"),
            f"monitord/{SITE}/#",
            t("chair-3", "cmd/ack"),
            t("chair-3", "cmd/session"),
        ):
            await chair3.subscribe(topic, qos=1)
        async with login(broker, "chair-4") as chair4, login(broker, "station-1") as station:
            await chair4.publish(t("chair-4", "alerts/events"), b"chair-4-event", qos=1)
            await station.publish(t("chair-4", "cmd/ack"), b"ack-for-4", qos=1)
            await station.publish(t("chair-4", "cmd/session"), b"session-for-4", qos=1)
            await station.publish(t("chair-3", "cmd/ack"), b"ack-for-3", qos=1)
            await station.publish(t("chair-3", "cmd/session"), b"start", qos=1)
            got = await collect(chair3, until=t("chair-3", "cmd/session"))
    # Delivered once per matching subscription (exact + wildcard), never another chair's.
    assert set(got) == {
        (t("chair-3", "cmd/ack"), b"ack-for-3"),
        (t("chair-3", "cmd/session"), b"start"),
    }, got


async def test_station_reads_every_chair_and_acks(broker: AclMosquitto) -> None:
    async with login(broker, "station-1") as station:
        codes = await station.subscribe(f"monitord/{SITE}/+/alerts/#", qos=1)
        assert not refused(codes)
        async with login(broker, "chair-3") as c3, login(broker, "chair-4") as c4:
            await c3.subscribe(t("chair-3", "cmd/ack"), qos=1)
            await c3.publish(t("chair-3", "alerts/events"), b"e3", qos=1)
            await c4.publish(t("chair-4", "alerts/events"), b"e4", qos=1)
            got = await collect(station, until=t("chair-4", "alerts/events"))
            await station.publish(t("chair-3", "cmd/ack"), b'{"alert_id": "a", "by": "n"}', qos=1)
            acks = await collect(c3, until=t("chair-3", "cmd/ack"))
    assert sorted(got) == [
        (t("chair-3", "alerts/events"), b"e3"),
        (t("chair-4", "alerts/events"), b"e4"),
    ]
    assert acks == [(t("chair-3", "cmd/ack"), b'{"alert_id": "a", "by": "n"}')]


async def test_station_cannot_forge_alerts(broker: AclMosquitto) -> None:
    async with login(broker, "station-1") as station, login(broker, "chair-3") as c3:
        await station.subscribe(f"monitord/{SITE}/#", qos=1)
        await station.publish(t("chair-3", "alerts/events"), b"forged-by-station", qos=1)
        await c3.publish(t("chair-3", "status"), b"sentinel", qos=1)
        got = await collect(station, until=t("chair-3", "status"))
    assert [p for _, p in got] == [b"sentinel"], got


async def test_station_receipts_and_status_reach_the_chair_and_only_its_own(
    broker: AclMosquitto,
) -> None:
    """Receipts and station status (issue 19 contract): station-1 writes receipts for any
    chair and its own status; not another station's status; a chair forges no receipt and
    reads its own receipts only; every chair reads the stations' status."""
    stations = f"monitord/{SITE}/stations"
    async with login(broker, "chair-3") as c3, login(broker, "chair-4") as c4:
        await c3.subscribe(t("chair-3", "alerts/receipts"), qos=1)
        await c3.subscribe(t("chair-4", "alerts/receipts"), qos=1)
        await c3.subscribe(f"{stations}/#", qos=1)
        async with login(broker, "station-1") as s1:
            await c4.publish(t("chair-3", "alerts/receipts"), b"forged-by-chair-4", qos=1)
            await s1.publish(f"{stations}/station-2", b"station-2-forged", qos=1)
            await s1.publish(t("chair-4", "alerts/receipts"), b"receipt-for-4", qos=1)
            await s1.publish(t("chair-3", "alerts/receipts"), b"receipt-for-3", qos=1)
            await s1.publish(f"{stations}/station-1", b"online", qos=1)
            got = await collect(c3, until=f"{stations}/station-1")
    assert got == [
        (t("chair-3", "alerts/receipts"), b"receipt-for-3"),
        (f"{stations}/station-1", b"online"),
    ], got


async def test_chair_publishes_only_its_own_home_assistant_discovery(
    broker: AclMosquitto,
) -> None:
    def doc(chair: str) -> str:
        return f"homeassistant/sensor/monitord_{SITE}_{chair}/hr/config"

    async with login(broker, "station-1") as s1, login(broker, "chair-3") as c3:
        await s1.subscribe("homeassistant/#", qos=1)
        await c3.publish(doc("chair-4"), b"forged-for-4", qos=1)
        await c3.publish(doc("chair-3"), b"own", qos=1)
        got = await collect(s1, until=doc("chair-3"))
    assert got == [(doc("chair-3"), b"own")], got


async def test_wrong_password_and_plain_connection_refused(broker: AclMosquitto) -> None:
    assert broker.tls is not None
    ctx = ssl.create_default_context(cafile=str(broker.tls.ca_file))
    with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori"):
        async with aiomqtt.Client(
            broker.host,
            broker.port,
            username="chair-3",
            password="wrong",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=ctx,
            timeout=10,
        ):
            pass
    with pytest.raises((aiomqtt.MqttError, OSError)):
        async with aiomqtt.Client(
            broker.host,
            broker.port,
            username="chair-3",
            password=USERS["chair-3"],
            # the TLS listener drops the plain CONNECT; no CONNACK ever comes
            timeout=2,
        ):
            pass


# -- issue 12: defects 12 (client-id takeover, persistence) and 8 (packet size) ----------
async def test_another_accounts_client_id_does_not_take_over_a_chair(
    broker: AclMosquitto,
) -> None:
    # chair-3's credentials with chair-4's daemon's client id: without
    # use_username_as_clientid the broker hands chair-4's session to chair-3 and drops
    # chair-4 (37 reconnects in 20 s when both retry).
    ident = f"monitord-{SITE}-chair-4"
    async with (
        login(broker, "station-1") as station,
        login(broker, "chair-4", ident) as chair4,
    ):
        await station.subscribe(t("chair-4", "status"), qos=1)
        async with login(broker, "chair-3", ident) as chair3:
            await chair3.publish(t("chair-3", "status"), b"chair-3-here", qos=1)
            # chair-4's connection is still the one it opened: it publishes, and it arrives.
            await chair4.publish(t("chair-4", "status"), b"chair-4-still-here", qos=1)
            got = await collect(station, until=t("chair-4", "status"))
    assert got == [(t("chair-4", "status"), b"chair-4-still-here")]


async def test_oversized_packet_disconnects_its_sender_and_never_reaches_the_chair(
    broker: AclMosquitto,
) -> None:
    async with login(broker, "chair-3") as chair3:
        await chair3.subscribe(t("chair-3", "cmd/session"), qos=1)
        with pytest.raises(aiomqtt.MqttError):
            async with login(broker, "station-1") as station:
                # The broker drops the connection; the client then waits out the publish's
                # timeout (no PUBACK comes): 2 s, not the default 10, proves the same.
                await station.publish(
                    t("chair-3", "cmd/session"), b"x" * (1 << 20), qos=1, timeout=2
                )
        async with login(broker, "station-1") as station:
            await station.publish(t("chair-3", "cmd/session"), b"sentinel", qos=1)
        got = await collect(chair3, until=t("chair-3", "cmd/session"))
    assert got == [(t("chair-3", "cmd/session"), b"sentinel")]


async def test_acknowledged_alert_survives_a_broker_crash(tls_material: TlsMaterial) -> None:
    """A station away (persistent session) while a chair publishes an `acknowledged` event
    and its retained active set; the broker is SIGKILLed once it has saved, and restarted:
    the station gets the event and the retained set shows the ack. The wait for the save
    is bounded (10 s); with the Debian default (autosave every 30 min) it never comes."""
    workdir = session_tmpdir("mosquitto-crash")
    srv = AclMosquitto(workdir, tls=tls_material, users=USERS)
    station_kw: dict[str, Any] = {
        "protocol": aiomqtt.ProtocolVersion.V311,
        "clean_session": False,
    }
    event = b'{"event": "acknowledged", "rule": "bp.crisis", "alert_id": "a-1"}'
    active = b'{"alerts": [{"rule": "bp.crisis", "alert_id": "a-1", "ack": true}]}'
    db = srv.datadir / "mosquitto.db"
    try:
        srv.start()
        async with login(srv, "station-1", **station_kw) as station:
            await station.subscribe(t("chair-3", "alerts/events"), qos=1)
        async with login(srv, "chair-3") as chair3:
            await chair3.publish(t("chair-3", "alerts/events"), event, qos=1)
            await chair3.publish(t("chair-3", "alerts/active"), active, qos=1, retain=True)
            acked_ns = time.time_ns()  # both PUBACKs received
        await eventually(
            lambda: db.exists() and db.stat().st_mtime_ns > acked_ns, 10, "broker saved"
        )
        srv.kill()
        srv.start()
        async with login(srv, "station-1", **station_kw) as station:
            queued = await collect(station, until=t("chair-3", "alerts/events"))
            await station.subscribe(t("chair-3", "alerts/active"), qos=1)
            retained = await collect(station, until=t("chair-3", "alerts/active"))
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert queued == [(t("chair-3", "alerts/events"), event)]
    assert retained == [(t("chair-3", "alerts/active"), active)]


# -- issue 16: refusals are visible under MQTT v5; receipts and station status -----------
async def test_denied_qos1_publish_is_puback_0x87_under_v5_and_success_under_311(
    broker: AclMosquitto,
) -> None:
    """What mosquitto 2.0 really answers for a denied QoS 1 publish: under MQTT v5 a
    PUBACK with reason code 0x87 (Not authorized); under MQTT 3.1.1 a plain PUBACK, which
    a client cannot tell from a delivery (why every monitord connection is v5)."""
    assert broker.tls is not None
    ctx = ssl.create_default_context(cafile=str(broker.tls.ca_file))
    async with V5Client(
        broker.host,
        broker.port,
        username="chair-3",
        password=USERS["chair-3"],
        identifier="acl-v5-probe",
        tls_context=ctx,
        timeout=10,
    ) as c:
        with pytest.raises(PublishRefused) as refused_:
            await c.publish_acked(t("chair-4", "alerts/events"), b"forged", 1, False)
        assert refused_.value.value == 0x87
        assert "not authorized (0x87)" in str(refused_.value)
        await c.publish_acked(t("chair-3", "alerts/events"), b"own", 1, False)  # accepted
    seen: list[int] = []

    class Probe311(aiomqtt.Client):
        def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            seen.append(int(rc.value))
            super()._on_publish(client, userdata, mid, rc, props)

    async with Probe311(
        broker.host,
        broker.port,
        username="chair-3",
        password=USERS["chair-3"],
        protocol=aiomqtt.ProtocolVersion.V311,
        tls_context=ctx,
        timeout=10,
    ) as c311:
        await c311.publish(t("chair-4", "alerts/events"), b"forged", qos=1)
    assert seen == [0], "MQTT 3.1.1 acknowledges a refused publish as a success"


async def test_station_sends_receipts_and_its_own_status_chair_reads_them(
    broker: AclMosquitto,
) -> None:
    receipt = b'{"alert_id": "a-1", "event": "raised", "station": "station-1"}'
    async with login(broker, "chair-3") as chair3, login(broker, "station-1") as station:
        await chair3.subscribe(t("chair-3", "alerts/receipts"), qos=1)
        await chair3.subscribe(f"monitord/{SITE}/stations/+", qos=1)
        await station.publish(f"monitord/{SITE}/stations/station-2", b"forged", qos=1)
        await station.publish(t("chair-4", "alerts/receipts"), b"for-4", qos=1)
        await station.publish(f"monitord/{SITE}/stations/station-1", b"online", qos=1)
        await station.publish(t("chair-3", "alerts/receipts"), receipt, qos=1)
        got = await collect(chair3, until=t("chair-3", "alerts/receipts"))
        # A chair cannot pose as a station.
        async with V5Client(
            broker.host,
            broker.port,
            username="chair-3",
            password=USERS["chair-3"],
            identifier="acl-chair-as-station",
            tls_context=ssl.create_default_context(cafile=str(broker.tls.ca_file))
            if broker.tls
            else None,
            timeout=10,
        ) as c:
            with pytest.raises(PublishRefused):
                await c.publish_acked(f"monitord/{SITE}/stations/chair-3", b"x", 1, False)
    assert got == [
        (f"monitord/{SITE}/stations/station-1", b"online"),
        (t("chair-3", "alerts/receipts"), receipt),
    ], got


async def test_station_can_clear_a_retained_command_a_chair_cannot(
    broker: AclMosquitto,
) -> None:
    topic = t("chair-3", "cmd/session")
    async with login(broker, "station-1") as station:
        await station.publish(topic, b'{"action": "end"}', qos=1, retain=True)
    async with V5Client(
        broker.host,
        broker.port,
        username="chair-3",
        password=USERS["chair-3"],
        identifier="acl-chair-clear",
        tls_context=ssl.create_default_context(cafile=str(broker.tls.ca_file))
        if broker.tls
        else None,
        timeout=10,
    ) as c:
        with pytest.raises(PublishRefused):
            await c.publish_acked(topic, b"", 1, True)
    async with login(broker, "station-1") as station:
        await station.publish(topic, b"", qos=1, retain=True)  # cleared by the station
        async with login(broker, "chair-3") as c3:
            await c3.subscribe(topic, qos=1)
            await station.publish(topic, b"sentinel", qos=1)
            got = await collect(c3, until=topic)
    assert got == [(topic, b"sentinel")], "the retained command was cleared"


def test_every_warning_the_broker_logs_at_start_is_one_the_docs_expect(
    broker: AclMosquitto,
) -> None:
    """mosquitto 2.0 warns at each start of an ACL `pattern` without %u or %c: the
    shipped one every account reads the stations' status by. docs/install.md tells the
    admin which warning is expected (it did not: an admin reading the broker's log could
    not tell it from a fault), word for word; any other warning fails here."""
    docs = " ".join((REPO / "docs" / "install.md").read_text().split())
    logged = [
        ln.split(": ", 1)[1]
        for ln in broker.broker_log().splitlines()
        if ": Warning" in ln or ": Error" in ln
    ]
    assert logged, "the shipped ACL's pattern warning was not logged: is the log read?"
    for line in logged:
        assert quoted_in_docs(line) in docs, line
