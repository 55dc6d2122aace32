"""The phone forwarder's failed POSTs reach the IT admin at WARNING once per alarm and
cause (monitord/station/forwarder.py `_failed`), their retries at DEBUG: each is a phone
escalation that did not happen. Before, the failures were grouped by exception type for a
whole run of failures, which ended only at a POST taken:

- an alarm raised after the failing ones were acknowledged, the webhook still failing,
  had its failure at DEBUG only;
- a certificate "not trusted", then (the CA added) "expired": one exception type, the
  second at DEBUG, and the admin kept looking for the first;
- two alarms failing on an expired certificate while it was being read (the line waits
  for it): the second at DEBUG only.

Against real webhooks on 127.0.0.1: an aiohttp server answering 503, TLS servers with
certificates made here (real OpenSSL handshakes).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from monitord.config_tls import web_verifier
from monitord.station import forwarder
from monitord.station.forwarder import Forwarder
from tests.kit import eventually
from tests.servers import make_tls_material
from tests.station.station_kit import webhook_server
from tests.station.test_forwarder_failure_line import crisis_forwarder, forwarder_warnings
from tests.station.test_forwarder_tls_expired import webhook_tls
from tests.station.test_forwarder_tls_peer import alarms

FIRST = "chair-2:bp.crisis:7"  # crisis_forwarder's alarm
LATER = "chair-3:spo2.very_low:9"
EXPIRED = "TLS failed: the webhook server's certificate (or the CA that signed it) has expired"


async def running(fwd: Forwarder, until: Callable[[], object], what: str) -> None:
    """`fwd` run until `until()`, then stopped."""
    task = asyncio.create_task(fwd.run())
    try:
        await eventually(until, 20, what)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_alarm_raised_after_the_failing_ones_were_acknowledged_is_warned(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forwarder, "RETRY_S", 0.1)
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    posted: list[str] = []

    async def down(request: web.Request) -> web.Response:
        posted.append((await request.json())["alert_id"])
        return web.Response(status=503)

    async with webhook_server(down, "/alarms") as base:
        fwd = crisis_forwarder(f"{base}/alarms", 2.0)
        task = asyncio.create_task(fwd.run())
        try:
            await eventually(lambda: posted.count(FIRST) >= 3, 20, "the first alarm retried")
            # The nurse acknowledges it at the chair; the webhook is still down.
            fwd.on_event({"alert_id": FIRST, "event": "acknowledged"})
            fwd.on_event(
                {"alert_id": LATER, "event": "raised", "priority": "high",
                 "chair": "chair-3", "message": "SpO2 82 < 85"}
            )  # fmt: skip
            await eventually(lambda: posted.count(LATER) >= 3, 20, "the later alarm retried")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    warned = forwarder_warnings(caplog)
    # Each alarm's failure once (its retries at DEBUG); before, the later one's at DEBUG.
    assert [line.split(" on ")[0] for line in warned] == [
        f"phone forwarder: {FIRST}",
        f"phone forwarder: {LATER}",
    ], warned
    assert all("HTTP 503 Service Unavailable" in line for line in warned), warned


async def test_an_expired_certificate_after_an_untrusted_one_is_warned(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The webhook's CA is not trusted here; the IT admin adds it, and its certificate
    turns out expired too: a new cause, with its own fix, for the same alarm."""
    monkeypatch.setattr(forwarder, "RETRY_S", 0.1)
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
    other = make_tls_material(tmp_path / "other")
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
    web_verifier.cache_clear()
    seen: list[str] = []
    try:
        async with webhook_tls(tls, log=seen) as port:
            fwd = crisis_forwarder(f"https://localhost:{port}/alarms", 5.0)
            task = asyncio.create_task(fwd.run())
            try:
                await eventually(lambda: forwarder_warnings(caplog), 20, "the first line")
                await eventually(lambda: seen.count("refused") >= 3, 20, "retried")
                monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))  # its CA added
                web_verifier.cache_clear()
                # The certificate read (its line said then), and retried after it.
                await eventually(
                    lambda: "read" in seen and seen[seen.index("read") :].count("refused") >= 3,
                    20,
                    "the certificate read, the POST retried",
                )
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        monkeypatch.undo()
        web_verifier.cache_clear()
    warned = forwarder_warnings(caplog)
    assert len(warned) == 2, warned
    assert "not signed by a CA this machine trusts" in warned[0], warned
    assert EXPIRED in warned[1] and FIRST in warned[1], warned


async def test_two_alarms_failing_while_the_certificate_is_read_are_both_warned(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(forwarder, "RETRY_S", 0.1)
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    web_verifier.cache_clear()
    seen: list[str] = []
    try:
        async with webhook_tls(tls, log=seen) as port:
            fwd = alarms(f"https://localhost:{port}/alarms", 5.0, 2)
            await running(
                fwd,
                lambda: "read" in seen and seen[seen.index("read") :].count("refused") >= 4,
                "both alarms retried after the certificate was read",
            )
    finally:
        monkeypatch.undo()
        web_verifier.cache_clear()
    warned = forwarder_warnings(caplog)
    assert [line.split(" on ")[0] for line in warned] == [
        "phone forwarder: chair-1:bp.crisis:7",
        "phone forwarder: chair-2:bp.crisis:7",
    ], warned
    assert all(EXPIRED in line for line in warned), warned
