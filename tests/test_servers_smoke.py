"""The test servers are real and behave: each is used for what the project needs of it."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aiomqtt
import pytest

from tests.conftest import TLS_USERS
from tests.servers import (
    Influxd,
    MissingServerBinary,
    Mosquitto,
    TlsMaterial,
    VictoriaMetrics,
    find_binary,
    http_post,
    port_open,
)


def test_missing_binary_names_the_debian_package() -> None:
    with pytest.raises(MissingServerBinary, match=r"Debian package 'victoria-metrics'"):
        find_binary(["/nonexistent/victoria-metrics-x"], "victoria-metrics")


async def test_mosquitto_pubsub_and_retained(mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    topic = f"{mqtt_prefix}/smoke"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
        await pub.publish(f"{topic}/retained", b"kept", qos=1, retain=True)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
        await sub.subscribe(f"{topic}/#", qos=1)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await pub.publish(f"{topic}/live", b"hello", qos=1)
        got: dict[str, bytes] = {}
        async with asyncio.timeout(10):
            async for msg in sub.messages:
                assert isinstance(msg.payload, bytes)
                got[str(msg.topic)] = msg.payload
                if len(got) == 2:
                    break
    assert got == {f"{topic}/retained": b"kept", f"{topic}/live": b"hello"}


async def test_mosquitto_stop_start_same_port_keeps_retained(
    mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    topic = f"{mqtt_prefix}/persist"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
        await pub.publish(topic, b"survives", qos=1, retain=True)
    port = mosquitto.port
    mosquitto.stop()
    assert not port_open(mosquitto.host, port)
    mosquitto.start()
    assert mosquitto.port == port
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
        await sub.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            msg = await anext(sub.messages)
    assert msg.payload == b"survives" and msg.retain


async def test_mosquitto_pause_resume(mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    mosquitto.pause()
    # Frozen: the kernel still completes the TCP handshake, but CONNECT gets no CONNACK.
    assert port_open(mosquitto.host, mosquitto.port)
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=1):
            pass
    mosquitto.resume()
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", *mosquitto.pub_args(), "-t", f"{mqtt_prefix}/x", "-m", "1", "-q", "1"
    )
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_mosquitto_tls_with_password(
    mosquitto_tls: Mosquitto, tls_material: TlsMaterial, mqtt_prefix: str
) -> None:
    params = aiomqtt.TLSParameters(ca_certs=str(tls_material.ca_file))
    async with aiomqtt.Client(
        mosquitto_tls.host,
        mosquitto_tls.port,
        username="monitord",
        password=TLS_USERS["monitord"],
        tls_params=params,
    ) as c:
        await c.subscribe(f"{mqtt_prefix}/t", qos=1)
        await c.publish(f"{mqtt_prefix}/t", b"secure", qos=1)
        async with asyncio.timeout(10):
            msg = await anext(c.messages)
    assert msg.payload == b"secure"
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            mosquitto_tls.host,
            mosquitto_tls.port,
            username="monitord",
            password="wrong",
            tls_params=params,
        ):
            pass
    with pytest.raises(aiomqtt.MqttError):  # plain MQTT to the TLS port
        async with aiomqtt.Client(
            mosquitto_tls.host, mosquitto_tls.port, username="monitord", password="x", timeout=3
        ):
            pass


def test_influxd_write_and_query(influxd: Influxd, influx_db: str) -> None:
    ns = time.time_ns()
    status, body = http_post(
        f"{influxd.url}/write?db={influx_db}&precision=ns",
        f"vitals,site=s,chair=c1 hr_bpm=72,valid=true {ns}\n".encode(),
    )
    assert status == 204, body
    rows = influxd.rows("SELECT * FROM vitals", influx_db)
    assert rows == [{"time": ns, "hr_bpm": 72, "valid": True, "site": "s", "chair": "c1"}]


def test_influxd_restart_keeps_data_and_port(influxd: Influxd, influx_db: str) -> None:
    ns = time.time_ns()
    status, _ = http_post(f"{influxd.url}/write?db={influx_db}", f"m v=1 {ns}".encode())
    assert status == 204
    port = influxd.port
    influxd.stop()
    influxd.start()
    assert influxd.port == port
    assert influxd.rows("SELECT v FROM m", influx_db) == [{"time": ns, "v": 1}]
    influxd.pause()
    influxd.resume()
    assert influxd.rows("SELECT count(v) FROM m", influx_db)[0]["count"] == 1


def test_victoria_metrics_v2_write_and_export(
    victoria_metrics: VictoriaMetrics, vm_site: str
) -> None:
    ms = time.time_ns() // 1_000_000
    lines = "".join(
        f"vitals,site={vm_site},chair=c1 hr_bpm={70 + i},valid=true {(ms + i) * 1_000_000}\n"
        for i in range(5)
    )
    status, body = http_post(
        f"{victoria_metrics.url}/api/v2/write?org=o&bucket=b&precision=ns", lines.encode()
    )
    assert status == 204, body
    match = f'{{__name__="vitals_hr_bpm",site="{vm_site}"}}'
    assert victoria_metrics.wait_samples(match, 5) == 5
    (series,) = victoria_metrics.export(match)
    assert series["values"] == [70, 71, 72, 73, 74]
    assert series["timestamps"] == [ms + i for i in range(5)]
    victoria_metrics.stop()
    victoria_metrics.start()
    assert victoria_metrics.count_samples(match) == 5


def test_fixture_servers_are_loopback_only(
    mosquitto: Mosquitto, influxd: Influxd, victoria_metrics: VictoriaMetrics
) -> None:
    for srv in (mosquitto, influxd, victoria_metrics):
        assert srv.host == "127.0.0.1"
        out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
        mine = [ln for ln in out.splitlines() if f"pid={srv.pid}," in ln]
        assert mine, out
        for ln in mine:
            assert "127.0.0.1:" in ln.split()[3], ln
