"""What a broker port speaks, for `monitord doctor`'s failure lines, and the dates of the
broker's TLS certificates (monitord/commands/doctor.py).

A TLS config against the plain listener, or a plain config against the TLS listener, does
not fail as "broker down": the broker answers, in the other language, and drops the
connection (a reset, an EOF in the TLS handshake, or a wait until the timeout). Doctor
then asks the port itself, once: a plain MQTT CONNECT answered by a CONNACK is plain MQTT;
a TLS handshake that completes (no certificate check: only the language matters) is TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitord.certfiles import WARN_DAYS as EXPIRY_WARN_DAYS
from monitord.commands.checks import Check
from monitord.netaddr import hostport

# paho logs "failed to receive on socket: ..." at ERROR on the client's logger; doctor's
# line already says what went wrong, so nothing of it may reach stderr.
quiet_paho = logging.getLogger("monitord.doctor.paho")
quiet_paho.addHandler(logging.NullHandler())
quiet_paho.propagate = False

# CONNACK's fixed header (MQTT 3.1.1 and 5).
CONNACK = 0x20


def _connect_packet() -> bytes:
    ident = f"monitord-doctor-probe-{os.getpid()}".encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x0a"  # MQTT 3.1.1, clean session, keepalive 10 s
    payload = len(ident).to_bytes(2, "big") + ident
    body = var + payload
    return bytes([0x10, len(body)]) + body  # body < 128 bytes: one length byte


async def speaks_plain_mqtt(host: str, port: int, limit_s: float) -> bool:
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(_connect_packet())
                await writer.drain()
                first = await reader.read(1)
            finally:
                await _close(writer)
    except (OSError, TimeoutError):
        return False
    return first == bytes([CONNACK])


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close and wait: a TLS port answers the plain CONNECT with a reset, which asyncio
    also keeps on the stream's "closed" future; never awaited, it may be printed at exit
    as "Future exception was never retrieved" (doctor's stderr must hold only its lines:
    tests/ops/test_doctor.py test_wrong_ca_fails_tls failed on it once)."""
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def speaks_tls(host: str, port: int, limit_s: float) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(limit_s):
            _reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            await _close(writer)
    except (OSError, ssl.SSLError, TimeoutError):
        return False
    return True


async def mismatch(host: str, port: int, tls: bool, limit_s: float) -> str | None:
    """'plain MQTT' when a TLS config meets a plain port, 'TLS' when a plain config meets
    a TLS port; None when the port speaks neither (or what the config expects)."""
    if tls and await speaks_plain_mqtt(host, port, limit_s):
        return "plain MQTT"
    if not tls and await speaks_tls(host, port, limit_s):
        return "TLS"
    return None


def not_after(cert: Mapping[str, Any]) -> datetime | None:
    """A decoded certificate's expiry (ssl's `getpeercert()` / `get_ca_certs()` form)."""
    value = cert.get("notAfter")
    if not isinstance(value, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), UTC)


async def broker_certificates(
    host: str, port: int, ctx: ssl.SSLContext, limit_s: float
) -> list[tuple[str, datetime]]:
    """(what, expiry) of the broker's certificate (as verified with the config's context)
    and of the CAs the context trusts."""
    out: list[tuple[str, datetime]] = []
    try:
        async with asyncio.timeout(limit_s):
            _reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            peer = writer.get_extra_info("peercert")
            writer.close()
    except (OSError, ssl.SSLError, TimeoutError):
        peer = None
    if isinstance(peer, dict) and (end := not_after(peer)):
        out.append(("broker certificate", end))
    for ca in ctx.get_ca_certs():
        if end := not_after(ca):
            out.append(("CA certificate", end))
    return out


async def check_cert_expiry(
    host: str, port: int, ctx: ssl.SSLContext, limit_s: float, now: datetime | None = None
) -> list[Check]:
    """A `warn` line per certificate (broker's, CA's) expiring within EXPIRY_WARN_DAYS: once
    expired the broker refuses every Pi, and the nurses' station hears nothing."""
    now = now or datetime.now(UTC)
    out = []
    for what, end in await broker_certificates(host, port, ctx, limit_s):
        days = (end - now).total_seconds() / 86400
        if days <= EXPIRY_WARN_DAYS:
            out.append(
                Check(
                    "warn",
                    "mqtt tls",
                    f"the {what} of {hostport(host, port)} expires {end:%Y-%m-%d %H:%M} UTC "
                    f"(in {max(days, 0):.0f} days)",
                    RENEW,
                )
            )
    return out


RENEW = (
    "renew it with scripts/make-certs.sh (docs/install.md, TLS certificates for the broker; "
    "the CA is reused) and restart the broker"
)
