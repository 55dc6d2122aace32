"""The phone forwarder's second handshake, for whose certificate expired (the webhook
server's or its CA's: monitord/station/forwarder.py `_failed`), is no cost to the phone
escalation: it is read once per run of failures, not at each retry (RETRY_S), and in a
task of its own, so an alarm due after the failed one is posted without waiting for it.
Before, it ran in the POST loop at each failed POST: every alert after it waited up to
station.forwarder.timeout_s more, every RETRY_S.

Real TLS servers on 127.0.0.1 with certificates made here (real OpenSSL handshakes; the
forwarder's POST never gets past the handshake), their CA trusted (SSL_CERT_FILE).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitord.config_station import ForwarderConfig
from monitord.config_tls import web_verifier
from monitord.station import forwarder
from monitord.station.forwarder import Forwarder
from tests.kit import eventually
from tests.servers import TlsMaterial, make_tls_material
from tests.station.test_forwarder_failure_line import forwarder_warnings
from tests.station.test_forwarder_tls_expired import webhook_tls


def alarms(url: str, timeout_s: float, n: int) -> Forwarder:
    """A forwarder to `url` holding `n` chairs' high alarms, each to post once it runs."""
    fwd = Forwarder(ForwarderConfig(url=url, after_s=0.05, timeout_s=timeout_s), "site-a")
    for i in range(1, n + 1):
        fwd.on_event(
            {"alert_id": f"chair-{i}:bp.crisis:7", "event": "raised", "priority": "high",
             "chair": f"chair-{i}", "message": "BP 212/124"}
        )  # fmt: skip
    return fwd


async def run_until(fwd: Forwarder, until: Callable[[], object], what: str) -> None:
    task = asyncio.create_task(fwd.run())
    try:
        await eventually(until, 20, what)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def expired_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[TlsMaterial]:
    """A webhook certificate expired an hour ago, signed by a CA trusted here."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    web_verifier.cache_clear()  # read again for this SSL_CERT_FILE, and after the test
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    yield tls
    monkeypatch.undo()
    web_verifier.cache_clear()


async def test_the_certificate_is_read_once_in_a_run_of_failures_not_at_each_retry(
    expired_webhook: TlsMaterial, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(forwarder, "RETRY_S", 0.05)  # many retries, quickly
    seen: list[str] = []
    async with webhook_tls(expired_webhook, log=seen) as port:
        fwd = alarms(f"https://localhost:{port}/alarms", 5.0, 1)
        await run_until(fwd, lambda: seen.count("refused") >= 6, "six POSTs refused")
    assert seen.count("read") == 1, seen
    warned = forwarder_warnings(caplog)
    assert len(warned) == 1 and "(or the CA that signed it) has expired" in warned[0], warned


async def test_an_alarm_after_the_failed_one_is_posted_while_its_certificate_is_read(
    expired_webhook: TlsMaterial, caplog: pytest.LogCaptureFixture
) -> None:
    # The first POST's handshake is answered (its certificate refused); every connection
    # after it is held unanswered, the second handshake too (a server gone slow), for the
    # forwarder's timeout_s. The second alarm's POST is a third connection: before, it
    # came only when the second handshake had been given up, timeout_s (60 s) later.
    seen: list[str] = []
    async with webhook_tls(expired_webhook, handshakes=1, log=seen) as port:
        fwd = alarms(f"https://localhost:{port}/alarms", 60.0, 2)
        await run_until(fwd, lambda: len(seen) >= 3, "the second alarm's POST")
    assert seen == ["refused", "held", "held"], seen
    # Stopped while the certificate was read: the line is said without it.
    warned = forwarder_warnings(caplog)
    assert len(warned) == 1 and "(or the CA that signed it) has expired" in warned[0], warned
