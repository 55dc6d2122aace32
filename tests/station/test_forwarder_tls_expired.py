"""The phone forwarder's line when its webhook's certificate is out of date on this
machine's clock (monitord/station/forwarder.py): expired (the server's own: renew it),
its CA expired (make a new CA: a certificate renewed from the expired one is refused the
same), or not valid yet (a Pi booted with its clock behind, before NTP: wait for time
sync). Before, each fell through to "check the webhook service and
station.forwarder.url", of a webhook service that was running, while every escalation
to the phones failed. Now the words and fixes of the InfluxDB lines (tlsrefused.py
expired_said, tlsclock.py clock_fact), the fix naming station.forwarder.url.

Real TLS servers on 127.0.0.1 with certificates made here (real OpenSSL handshakes; the
forwarder's POST never gets past the handshake), their CA trusted (SSL_CERT_FILE).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509

from monitord.config_tls import web_verifier
from monitord.station import forwarder
from tests.servers import TlsMaterial, make_tls_material
from tests.station.test_forwarder_failure_line import forwarder_warnings, until_warned

CA_NAME = "monitord test CA"  # make_tls_material's
# The line's start and its retry, as the forwarder says every failure.
HEAD = "phone forwarder: chair-2:bp.crisis:7 on chair-2 not posted to https://localhost:{port}: "
RETRIED = f"; retried every {forwarder.RETRY_S:g} s until acknowledged "
CLOCK_AHEAD = "if this machine's clock is ahead (`timedatectl`), fix the clock instead"


def stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def not_after(pem: Path) -> dt.datetime:
    return x509.load_pem_x509_certificate(pem.read_bytes()).not_valid_after_utc


@contextlib.asynccontextmanager
async def webhook_tls(
    tls: TlsMaterial, handshakes: int | None = None, log: list[str] | None = None
) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 serving `tls`'s server certificate (its port): each
    connection's handshake, then closed (nothing past it is needed). Past `handshakes`
    connections, each is held without a byte answered: a second handshake that never
    ends (a server gone slow between the POST and it). `log`: each connection's fate,
    "refused" (the POST's handshake, its certificate refused), "read" (a handshake that
    does not verify: the second one) or "held"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.server_cert, tls.server_key)
    seen = 0
    done = asyncio.Event()
    said = [] if log is None else log

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal seen
        seen += 1
        try:
            if handshakes is not None and seen > handshakes:
                said.append("held")
                await done.wait()
            else:
                await w.start_tls(ctx)  # the client refuses the certificate: it fails here
                said.append("read")
        except (OSError, ssl.SSLError):
            said.append("refused")
        finally:
            w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def first_warning(
    tls: TlsMaterial,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    handshakes: int | None = None,
) -> tuple[str, int]:
    """(the forwarder's WARNING, the webhook's port): its first failed POST's line, to a
    webhook served with `tls` (webhook_tls), its CA the one this machine trusts."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    web_verifier.cache_clear()  # read again for this SSL_CERT_FILE, and after the test
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    try:
        async with webhook_tls(tls, handshakes) as port:
            await until_warned(f"https://localhost:{port}/alarms", caplog)
    finally:
        monkeypatch.undo()
        web_verifier.cache_clear()
    warned = forwarder_warnings(caplog)
    assert len(warned) == 1, warned
    return warned[0], port


async def test_an_expired_webhook_certificate_says_renew_it(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
    line, port = await first_warning(tls, monkeypatch, caplog)
    assert line == (
        HEAD.format(port=port) + "TLS failed: the webhook server's certificate (or the CA that "
        "signed it) has expired on this machine's clock" + RETRIED + "(renew the webhook "
        "server's certificate (the one served at station.forwarder.url) and restart that "
        f"server; {CLOCK_AHEAD})"
    )


async def test_an_expired_ca_under_a_valid_webhook_certificate_says_make_a_new_ca(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # OpenSSL's "certificate has expired" is of either; the server's certificate, read
    # from a second handshake that does not verify, says which.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", ca_until=past)
    line, port = await first_warning(tls, monkeypatch, caplog)
    assert line == (
        HEAD.format(port=port) + "TLS failed: the webhook server's certificate is valid until "
        f"{stamp(not_after(tls.server_cert))}, but the CA that signed it has expired on this "
        f"machine's clock: {CA_NAME} (expired {stamp(not_after(tls.ca_file))})" + RETRIED + "("
        "make a new CA and reissue the webhook server's certificate from it (the one served at "
        "station.forwarder.url), restart that server, and add the CA that signed it (the "
        f"clinic's: clinic-ca.pem) to {tls.ca_file} (a clinic CA made by scripts/make-certs.sh "
        "signs the broker's and the station's too: docs/install.md, TLS certificates for the "
        f"broker); {CLOCK_AHEAD})"
    )


async def test_an_expired_webhook_certificate_from_an_expired_ca_says_make_a_new_ca(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Renewed from the same CA (make-certs.sh reuses it), it would be refused the same.
    now = dt.datetime.now(dt.UTC)
    tls = make_tls_material(
        tmp_path / "tls",
        server_until=now - dt.timedelta(hours=2),
        ca_until=now - dt.timedelta(hours=1),
    )
    line, port = await first_warning(tls, monkeypatch, caplog)
    assert line.startswith(
        HEAD.format(port=port) + "TLS failed: the webhook server's certificate expired on "
        f"{stamp(not_after(tls.server_cert))}, and so did the CA that signed it: {CA_NAME} "
        f"(expired {stamp(not_after(tls.ca_file))})" + RETRIED + "(make a new CA and reissue "
        "the webhook server's certificate from it (the one served at station.forwarder.url)"
    ), line


async def test_an_expired_webhook_certificate_not_read_again_within_timeout_s_says_renew_it(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The second handshake (the server's certificate, for whose expiry) never answered:
    # given up within station.forwarder.timeout_s, the line is said without it.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
    line, _ = await first_warning(tls, monkeypatch, caplog, handshakes=1)
    assert "TLS failed: the webhook server's certificate (or the CA that signed it) has " in line
    assert "(renew the webhook server's certificate (the one served at station.forwarder" in line


async def test_a_webhook_certificate_not_valid_yet_names_the_clock(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A Pi booted behind (fake-hwclock's saved time, before NTP): the clock, not the
    # certificate, is what to wait for.
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_from=ahead)
    line, port = await first_warning(tls, monkeypatch, caplog)
    head, _, clock = line.partition("TLS failed: the clock is ")
    assert head == HEAD.format(port=port), line
    assert clock.endswith(
        "Z, the webhook server's certificate is not valid yet" + RETRIED + "(this machine's "
        "clock is behind (a Pi has no real-time clock: it boots on the last saved time); wait "
        "for time sync (`timedatectl` shows 'System clock synchronized: yes'; NTP must be "
        "reachable); if it says yes already, the clock is right and the certificate is wrong "
        "(issued valid from a time ahead, or not the webhook server's own: see its dates with "
        "`openssl s_client`))"
    ), line
