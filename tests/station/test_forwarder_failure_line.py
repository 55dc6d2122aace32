"""The journal's line when the phone forwarder's POST fails (monitord/station/forwarder.py):
it says what went wrong, with which alarm, and what the admin checks, and it never
prints the webhook URL's query (an ntfy server with access control takes its token as
`?auth=...`, the only way this POST, which sends no credentials, can carry one).

Before: a webhook that did not answer within `timeout_s` logged "phone forwarder:
http://...: " (a TimeoutError's text is empty: nothing said what failed), a refusal logged
the full URL twice (`404, message='Not Found', url='...?auth=TOKEN'`), and no line said
which alarm or what to check. Against a real aiohttp webhook on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from monitord.config_station import ForwarderConfig
from monitord.config_tls import web_verifier
from monitord.station import forwarder
from monitord.station.forwarder import Forwarder
from tests.kit import eventually
from tests.servers import SServer, make_tls_material
from tests.station.station_kit import webhook_server

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


@contextlib.asynccontextmanager
async def webhook(status: int, delay_s: float) -> AsyncIterator[tuple[str, list[int]]]:
    posts: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        posts.append(1)
        await asyncio.sleep(delay_s)
        return web.Response(status=status, text="forbidden: no such topic or token")

    async with webhook_server(hook, "/alarms") as base:
        yield base, posts


def crisis_forwarder(url: str, timeout_s: float) -> Forwarder:
    """A forwarder to `url` holding chair-2's high alarm, to post once it runs."""
    fwd = Forwarder(ForwarderConfig(url=url, after_s=0.05, timeout_s=timeout_s), "site-a")
    fwd.on_event(
        {"alert_id": "chair-2:bp.crisis:7", "event": "raised", "priority": "high",
         "chair": "chair-2", "message": "BP 212/124"}
    )  # fmt: skip
    return fwd


def forwarder_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The forwarder's WARNING lines (not another logger's: asyncio's of a test server)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == forwarder.log.name
    ]


async def until_warned(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The forwarder run against `url` until it logs a WARNING (its first failure's line)."""
    task = asyncio.create_task(crisis_forwarder(url, 2.0).run())
    try:
        await eventually(lambda: forwarder_warnings(caplog), 20, "a line")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("status", "delay_s", "why"),
    [
        (200, 2.0, "no answer within 0.3 s (station.forwarder.timeout_s)"),
        (403, 0.0, "HTTP 403 Forbidden"),
    ],
)
async def test_a_failed_post_says_why_which_alarm_and_no_token(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    delay_s: float,
    why: str,
) -> None:
    monkeypatch.setattr(forwarder, "RETRY_S", 0.2)  # retried soon, for the DEBUG repeat
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    async with webhook(status, delay_s) as (base, posts):
        url = f"{base}/alarms?auth={TOKEN}"
        task = asyncio.create_task(crisis_forwarder(url, 0.3).run())
        try:
            await eventually(lambda: len(posts) >= 2, 20, "posted, then retried")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1, warned  # once; the retries at DEBUG
    line = warned[0]
    assert why in line, line
    assert "chair-2:bp.crisis:7" in line and "chair-2" in line, line
    assert base in line and "station.forwarder.url" in line, line  # where, and what to check
    every = " ".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in every and "auth=" not in every, every


async def test_a_webhook_whose_certificate_is_refused_says_why_and_the_fix(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A self-hosted ntfy over https signed by a CA this machine does not trust: each
    escalation to the phones failed, and the line said "check the webhook service", which
    was up. Now it says the certificate was refused, why and the fix (as for InfluxDB:
    monitord/tlsrefused.py). A real TLS server on 127.0.0.1 (real OpenSSL handshakes)."""
    server = make_tls_material(tmp_path / "server")
    other = make_tls_material(tmp_path / "other")  # the CA this machine trusts instead
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # read too (no hashed CA in it)
    web_verifier.cache_clear()  # read again for this SSL_CERT_FILE, and after the test
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server.server_cert, server.server_key)

    async def close(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    srv = await asyncio.start_server(close, "127.0.0.1", 0, ssl=ctx)
    try:
        port = srv.sockets[0].getsockname()[1]
        url = f"https://localhost:{port}/alarms?auth={TOKEN}"
        await until_warned(url, caplog)
    finally:
        srv.close()
        await srv.wait_closed()
        monkeypatch.undo()
        web_verifier.cache_clear()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [
        f"phone forwarder: chair-2:bp.crisis:7 on chair-2 not posted to https://localhost:{port}: "
        "TLS failed: the webhook server's certificate was refused: not signed by a CA this "
        "machine trusts (unable to get local issuer certificate; the trusted CAs are read from "
        f"SSL_CERT_FILE={other.ca_file} and SSL_CERT_DIR={tmp_path}); retried every "
        f"{forwarder.RETRY_S:g} s until "
        "acknowledged (add the CA "
        f"that signed it (the clinic's: clinic-ca.pem) to {other.ca_file})"
    ]


async def test_a_tls12_webhook_that_wants_a_client_certificate_is_named_among_the_causes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A webhook behind a TLS 1.2 server that requires a client certificate (`openssl
    s_server -tls1_2 -Verify 1`): it ends the handshake with a generic handshake_failure
    alert. Before, "check the webhook service" of one that was up, while every escalation
    to the phones failed; now the causes of that alert and the command that tells them
    apart (monitord/tlsrefused.py)."""
    tls = make_tls_material(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))  # trusted: the alert is all
    web_verifier.cache_clear()
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    srv = SServer(tmp_path / "s_server", tls, ["-tls1_2", "-Verify", "1"])
    srv.start()
    try:
        url = f"https://localhost:{srv.port}/alarms"
        await until_warned(url, caplog)
    finally:
        srv.stop()
        monkeypatch.undo()
        web_verifier.cache_clear()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    hp = f"localhost:{srv.port}"
    assert warned == [
        f"phone forwarder: chair-2:bp.crisis:7 on chair-2 not posted to https://{hp}: TLS "
        "failed: the webhook server (or a proxy in front of it) ended the handshake (TLS "
        "alert: handshake failure): it may want a client certificate, which monitord's HTTPS "
        "clients have none to give, or share no cipher with this machine; retried every "
        f"{forwarder.RETRY_S:g} s until acknowledged (`openssl s_client -connect {hp}` says "
        "which: 'Acceptable client certificate CA names' when it asks for one (let it take "
        "this machine's connections without), 'Cipher is (NONE)' when no cipher is shared "
        "(offer current ciphers on the server))"
    ]
