"""Every TLS client monitord makes toward a server verifies the same on Python 3.11 to 3.13.

Python 3.13's create_default_context() turns on VERIFY_X509_STRICT (a server certificate
without an Authority Key Identifier is refused: "Missing Authority Key Identifier") and
VERIFY_X509_PARTIAL_CHAIN. The broker's context cleared them (381cd14); InfluxDB's clients
(the daemon's sink through aiohttp and influxdb-client, doctor and `monitord report` through
urllib) and the station's forwarder took Python's default: after an OS upgrade to Debian 13
the daemon no longer wrote to an https:// InfluxDB it had written to on Debian 12, with one
certificate (its CA in the system's store: SSL_CERT_FILE here). They now verify as the broker
is (monitord/config_tls.py `web_verifier`).

Cleared, the flags take nothing else away: a certificate from another CA, or for another
host, is still refused by each of them. Real mosquitto and influxd on TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from monitord.commands.doctor_influx import _http
from monitord.config import InfluxConfig, TlsConfig
from monitord.config_tls import web_verifier
from monitord.sinks.influx import _V1Transport, _V2Transport
from monitord.sinks.influx_http import WriteError, ping
from tests.delivery.test_influx_boot_clock import WARNED, CaDaemon
from tests.e2e.e2e_kit import Oximeter, write_config
from tests.kit import eventually
from tests.servers import Influxd, Mosquitto, TlsMaterial, make_tls_material, session_tmpdir

REFUSED = "certificate verify failed"
# The InfluxDB clients' words for it (monitord/tlsrefused.py: why, and the fix).
INFLUX_REFUSED = "certificate was refused"


@contextlib.contextmanager
def running(server: Influxd | Mosquitto) -> Iterator[None]:
    server.start()
    try:
        yield
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@contextlib.contextmanager
def system_ca(monkeypatch: pytest.MonkeyPatch, ca: Path) -> Iterator[None]:
    """`ca` as the system's CA store (web_verifier reads it once per process)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    web_verifier.cache_clear()
    try:
        yield
    finally:
        web_verifier.cache_clear()


async def test_an_https_influxdb_certificate_without_authority_key_id_is_written_to(
    tmp_path: Path,
) -> None:
    tls = make_tls_material(tmp_path / "tls", server_aki=False)
    influxd = Influxd(session_tmpdir("influxd-no-aki"), tls=tls)
    with running(influxd):
        influxd.create_database("monitord")
        influx = (
            f'\n[influx]\nurl = "https://localhost:{influxd.port}"\napi = "v1"\n'
            'database = "monitord"\nflush_interval_s = 0.2\ntimeout_s = 2.0\n'
        )
        daemon = CaDaemon(
            write_config(tmp_path, influx=influx), tmp_path / "daemon.log", tls.ca_file
        )
        async with Oximeter(tmp_path) as ox:
            daemon.start()
            stop = asyncio.Event()
            feed = asyncio.create_task(ox.stream(dt.datetime.now(dt.UTC), stop))
            try:
                # Before, on 3.13: no row ever, the sink's WARNING "... Missing Authority
                # Key Identifier" and a retry every few seconds.
                await eventually(
                    lambda: influxd.rows('SELECT count("valid") FROM vitals', "monitord"),
                    30,
                    "readings written to InfluxDB over HTTPS",
                )
            finally:
                stop.set()
                await feed
                daemon.stop()
    log = (tmp_path / "daemon.log").read_text(errors="replace")
    assert WARNED not in log, log


async def influx_clients_refuse(url: str) -> None:
    """Each of monitord's InfluxDB clients refuses the server at `url`."""
    cfg = InfluxConfig(url=url, api="v1", database="monitord", timeout_s=5.0)
    with pytest.raises(WriteError, match=INFLUX_REFUSED):
        await ping(cfg)
    sink = _V1Transport(cfg)
    try:
        with pytest.raises(WriteError, match=INFLUX_REFUSED):
            await sink.send(["m v=1 1"])
    finally:
        await sink.close()
    v2 = InfluxConfig(url=url, api="v2", org="clinic", bucket="monitord", timeout_s=5.0)
    sink2 = _V2Transport(v2)
    try:
        with pytest.raises(WriteError, match=INFLUX_REFUSED):
            await sink2.send(["m v=1 1"])
    finally:
        await sink2.close()
    with pytest.raises(urllib.error.URLError, match=REFUSED):  # doctor; report's is as it
        await asyncio.to_thread(_http, f"{url}/ping", 5.0)


async def mqtt_refuses(broker: Mosquitto, ca: Path) -> None:
    ctx = TlsConfig(ca_file=ca).client_context()  # the daemon's, the station's, doctor's
    with pytest.raises(aiomqtt.MqttError, match=REFUSED):
        async with aiomqtt.Client(broker.host, broker.port, tls_context=ctx, timeout=5):
            pass


@pytest.mark.parametrize("wrong", ["another CA", "another host"])
async def test_every_server_context_still_refuses_another_ca_and_another_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    if wrong == "another host":  # the clinic's CA, a certificate for another server
        server = make_tls_material(tmp_path / "srv", server_names=("influx.other.example",))
        trusted: TlsMaterial = server
    else:  # a server certificate for this host, from another clinic's CA
        server = make_tls_material(tmp_path / "srv")
        trusted = make_tls_material(tmp_path / "other")
    broker = Mosquitto(session_tmpdir("mosquitto-refuse"), tls=server)
    influxd = Influxd(session_tmpdir("influxd-refuse"), tls=server)
    with running(broker), running(influxd), system_ca(monkeypatch, trusted.ca_file):
        await mqtt_refuses(broker, trusted.ca_file)
        await influx_clients_refuse(influxd.url)
        # What is refused is the certificate: the right one is accepted by the same clients.
        with system_ca(monkeypatch, server.ca_file):
            if wrong == "another CA":
                await ping(InfluxConfig(url=influxd.url, api="v1", database="monitord"))
