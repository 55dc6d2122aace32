"""A Pi's boot as the broker connection sees it (docs/install.md, "A Pi's first boot").

A Pi has no real-time clock: it boots on fake-hwclock's last saved time, behind, and
NTP steps it forward later; its network (DHCP, Wi-Fi) may come up after monitord started.

- Clock behind the broker's certificate: a real mosquitto on TLS whose certificate is valid
  from a few seconds ahead (real OpenSSL handshakes, no mock of ssl). Before, the line said
  "TLS ... failed (... certificate is not yet valid ...); check mqtt.tls (ca_file, certs,
  port)", sending the IT admin to certificates that were right, and the retries backed off
  to 30 s, so the chair stayed offline up to 30 s after the clock was right. Now: one line
  naming the clock, the certificate's first valid time and the fix (wait for time sync),
  retries every 2 s (the delays the sink logs), connected once the certificate is valid.
- Broker name not resolvable (a real resolver failure: `.invalid`, RFC 6761). Before,
  "cannot reach broker broker.invalid:1883: [Errno -2] Name or service not known", no
  advice, backing off to 30 s. Now: one line saying the name does not resolve and what to
  check, retried every 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord.config import MqttConfig, StorageConfig, TlsConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from tests.kit import eventually
from tests.servers import Mosquitto, TlsMaterial, make_tls_material

# The certificate becomes valid this long after the broker starts: long enough for the old
# backoff (0.5 s doubling) to pass 2 s between attempts (its 5th delay is 2-4 s).
AHEAD_S = 14
# The longest wait between attempts at boot (monitord/tlsclock.py CLOCK_RETRY_S).
CLOCK_RETRY_S = 2.0


@pytest.fixture
def future_cert(tmp_path: Path) -> Iterator[tuple[TlsMaterial, dt.datetime]]:
    valid_from = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=AHEAD_S)
    yield make_tls_material(tmp_path / "tls", server_from=valid_from), valid_from
    shutil.rmtree(tmp_path / "tls", ignore_errors=True)


@pytest.fixture
def broker(tmp_path: Path, future_cert: tuple[TlsMaterial, dt.datetime]) -> Iterator[Mosquitto]:
    srv = Mosquitto(tmp_path / "broker", tls=future_cert[0])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def _run_sink(
    cfg: MqttConfig, tmp_path: Path, until: object, caplog: pytest.LogCaptureFixture
) -> MqttSink:
    store = tmp_path / "outbox.sqlite"
    outbox = Outbox(store, StorageConfig(path=store))

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        return None

    # The daemon's own backoff (0.5 s doubling to a 30 s cap): what a Pi runs.
    sink = MqttSink(cfg, "site-a", ["chair-1"], outbox, on_cmd)
    caplog.set_level(logging.DEBUG, logger="monitord")
    task = asyncio.create_task(sink.run())
    try:
        await eventually(lambda: until(sink), within_s=60, what=str(until))  # type: ignore[operator]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()
    return sink


def _delays(caplog: pytest.LogCaptureFixture, words: str) -> list[float]:
    return [
        float(m.group(1))
        for r in caplog.records
        if words in r.getMessage() and (m := re.search(r"retrying in ([\d.]+) s", r.getMessage()))
    ]


async def test_clock_behind_the_certificate_is_named_and_connects_once_valid(
    broker: Mosquitto,
    future_cert: tuple[TlsMaterial, dt.datetime],
    mqtt_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls, valid_from = future_cert
    cfg = MqttConfig(
        host=broker.host,
        port=broker.port,
        prefix=mqtt_prefix,
        timeout_s=2,
        tls=TlsConfig(ca_file=tls.ca_file),
    )

    def connected(sink: MqttSink) -> bool:
        return any("connected to" in r.getMessage() for r in caplog.records)

    await _run_sink(cfg, tmp_path, connected, caplog)
    failed = [r for r in caplog.records if "TLS with" in r.getMessage()]
    assert failed, "no handshake failed: the certificate was valid at once"
    first = failed[0].getMessage()
    assert failed[0].levelno >= logging.WARNING and "\n" not in first, first
    stamp = valid_from.strftime("%Y-%m-%d %H:%M:%SZ")
    assert f"the broker's certificate is valid from {stamp}" in first, first
    assert "the clock is 20" in first and "wait for time sync" in first, first
    assert "ca_file" not in first.split("chain")[0], first  # not sent to the certificates
    # Said once; the retries at DEBUG, every one within the short clock interval.
    assert all(r.levelno == logging.DEBUG for r in failed[1:])
    delays = _delays(caplog, "TLS with")
    assert len(delays) >= 5 and max(delays) <= CLOCK_RETRY_S, delays


async def test_a_broker_name_that_does_not_resolve_is_said_and_retried_promptly(
    mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = MqttConfig(host="broker.invalid", port=1883, prefix=mqtt_prefix, timeout_s=2)

    def tried(sink: MqttSink) -> bool:
        return sum("retrying in" in r.getMessage() for r in caplog.records) >= 6

    await _run_sink(cfg, tmp_path, tried, caplog)
    failed = [r for r in caplog.records if "retrying in" in r.getMessage()]
    first = failed[0].getMessage()
    assert failed[0].levelno == logging.WARNING and "\n" not in first, first
    assert "broker host broker.invalid does not resolve" in first, first
    assert "network or DNS is not up yet" in first and "getent hosts broker.invalid" in first
    assert all(r.levelno == logging.DEBUG for r in failed[1:])
    delays = _delays(caplog, "retrying in")
    assert max(delays) <= CLOCK_RETRY_S, delays


# Past a boot's minutes (monitord/tlsclock.py BOOT_WINDOW_S, 10 min), shortened here: what
# the Pi does is the same, only sooner.
SHORT_WINDOW_S = 3.0


async def test_a_misspelt_broker_name_is_not_queried_every_2_s_for_days(
    mqtt_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A misspelt mqtt.host (not a boot): before, a DNS query every 2 s per chair from every
    Pi, forever, and the only WARNING the first one ("network or DNS is not up yet"). Now,
    past a boot's minutes, one more WARNING saying it is no boot and what to check, and the
    usual backoff (growing to 30 s)."""
    monkeypatch.setattr("monitord.tlsclock.BOOT_WINDOW_S", SHORT_WINDOW_S)
    cfg = MqttConfig(host="broker.invalid", port=1883, prefix=mqtt_prefix, timeout_s=2)

    def late(sink: MqttSink) -> bool:  # the backoff's delay (jittered) past 2 s
        return any(d > CLOCK_RETRY_S for d in _delays(caplog, "longer than a boot takes"))

    await _run_sink(cfg, tmp_path, late, caplog)
    said = [r for r in caplog.records if "retrying in" in r.getMessage()]
    warned = [r.getMessage() for r in said if r.levelno >= logging.WARNING]
    assert len(warned) == 2, warned  # the boot's line, then the late one
    assert "longer than a boot takes" in warned[1] and "misspelt" in warned[1], warned[1]
    assert "getent hosts" in warned[1] and "\n" not in warned[1], warned[1]
    # Past the window the delays are the backoff's, no longer held to 2 s (the wait above
    # ended on one over 2 s; before, none ever was).
    assert max(_delays(caplog, "longer than a boot takes")) > CLOCK_RETRY_S


@pytest.fixture
def next_month_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, TlsMaterial, dt.datetime]]:
    """A broker whose certificate an admin issued valid from next month: the clock right."""
    valid_from = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    tls = make_tls_material(tmp_path / "tls", server_from=valid_from)
    srv = Mosquitto(tmp_path / "broker", tls=tls)
    srv.start()
    try:
        yield srv, tls, valid_from
    finally:
        srv.stop()


async def test_a_certificate_issued_valid_from_next_month_is_said_to_be_wrong(
    next_month_broker: tuple[Mosquitto, TlsMaterial, dt.datetime],
    mqtt_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock right (NTP synchronized), the certificate wrong: before, "... wait for time
    sync ...; the certificates are not at fault" and a handshake every 2 s, forever: the
    admin waited for an NTP that had long answered. Now the line says what it means if
    `timedatectl` already says synchronized, and past a boot's minutes it is said again,
    with the certificate's date, at the usual backoff."""
    monkeypatch.setattr("monitord.tlsclock.BOOT_WINDOW_S", SHORT_WINDOW_S)
    broker, tls, valid_from = next_month_broker
    cfg = MqttConfig(
        host=broker.host,
        port=broker.port,
        prefix=mqtt_prefix,
        timeout_s=2,
        tls=TlsConfig(ca_file=tls.ca_file),
    )

    def late(sink: MqttSink) -> bool:  # the backoff's delay (jittered) past 2 s
        return any(d > CLOCK_RETRY_S for d in _delays(caplog, "longer than a boot takes"))

    await _run_sink(cfg, tmp_path, late, caplog)
    said = [r for r in caplog.records if "TLS with" in r.getMessage()]
    warned = [r.getMessage() for r in said if r.levelno >= logging.WARNING]
    assert len(warned) == 2, warned
    stamp = valid_from.strftime("%Y-%m-%d %H:%M:%SZ")
    for line in warned:
        assert f"the broker's certificate is valid from {stamp}" in line, line
        assert "not at fault" not in line, line
        assert "if it says yes already, the clock is right and the certificate is wrong" in line
    assert "longer than a boot takes" in warned[1] and "reissue it" in warned[1], warned[1]
    # Past the window the delays are the backoff's, no longer held to 2 s (the wait above
    # ended on one over 2 s; before, none ever was).
    assert max(_delays(caplog, "longer than a boot takes")) > CLOCK_RETRY_S


async def test_the_unverified_handshake_for_the_dates_presents_no_client_certificate(
    tmp_path: Path, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The certificate's dates come from a second handshake that does not verify the
    server: whoever answers (a machine in between serving a future-dated certificate) got
    the chair's client certificate and a signature by its key on that handshake. Now it
    presents none: the server's certificate is all it reads. A real OpenSSL server that
    asks for (and would verify) a client certificate records what each handshake gave."""
    valid_from = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    tls = make_tls_material(tmp_path / "tls", server_from=valid_from)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.server_cert, tls.server_key)
    ctx.load_verify_locations(tls.ca_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    presented: list[object] = []

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        presented.append(w.get_extra_info("peercert"))  # {} or None: no client certificate
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    cfg = MqttConfig(
        host="localhost",
        port=port,
        prefix=mqtt_prefix,
        timeout_s=2,
        tls=TlsConfig(ca_file=tls.ca_file, cert_file=tls.client_cert, key_file=tls.client_key),
    )

    def said(sink: MqttSink) -> bool:
        return any("TLS with" in r.getMessage() for r in caplog.records)

    async with server:
        await _run_sink(cfg, tmp_path, said, caplog)
    line = next(r.getMessage() for r in caplog.records if "TLS with" in r.getMessage())
    assert f"valid from {valid_from:%Y-%m-%d %H:%M:%SZ}" in line, line  # the dates were read
    assert presented and not any(presented), presented
