"""The expiry of the TLS certificates this machine holds as files, read without a handshake.

scripts/make-certs.sh makes the broker's and the station's certificates for 825 days, all
on install day: on one day the broker refuses every chair whose own certificate
(`[mqtt.tls] cert_file`) expired, every Pi refuses the broker once the CA (`ca_file`) did,
and every tablet's browser refuses the station page. Before, only `monitord doctor` said
so ahead, and only if someone ran it; on the day a chair's expired certificate was logged
"no answer from broker ... within 10 s" (the broker's TLS alert reaches paho after the
handshake, and only its own log line names it), sending the IT admin to the network.

The local files are read here (PEM, every certificate in the file: a CA file may hold
several; the earliest expiry counts), their dates parsed by tlsclock.der_validity.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import ssl
from collections.abc import Callable
from pathlib import Path

from monitord.config import TlsConfig
from monitord.tlsclock import der_validity

log = logging.getLogger("monitord.certfiles")

# Warn this long ahead (the daemon, the station, status and `monitord doctor` alike): time
# to make new certificates and copy them to every Pi and station.
WARN_DAYS = 30
# The journal's warning is said again this often while the expiry is near (a journal read
# weeks later still has one from the last day), never more often.
RECHECK_S = 86_400.0

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)

# How each file is renewed (docs/install.md, "TLS certificates for the broker").
RENEW = {
    "client": "issue a new one from the clinic CA as it was made (clinic-ca.key) and put it "
    "in its place; the daemon reads it again at its next connection, no restart needed",
    "ca": "make a new CA and new broker, station and client certificates from it, and copy "
    "the new clinic-ca.pem to every Pi, station and browser (docs/install.md, TLS "
    "certificates for the broker)",
    "station": "renew it with `bash scripts/make-certs.sh --out certs --station NAME` "
    "(docs/install.md; the CA is reused) and put station.pem/.key in place: served within "
    "a minute, no restart",
}


def not_after(path: Path) -> dt.datetime | None:
    """The earliest notAfter of the PEM certificates in `path`; None if none is readable
    (check-config and doctor name an unreadable or wrong file, with its fix)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    ends = []
    for block in _PEM.findall(data):
        try:
            der = ssl.PEM_cert_to_DER_cert(block.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            continue
        if (dates := der_validity(der)) is not None:
            ends.append(dates[1])
    return min(ends, default=None)


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def expiry_line(setting: str, path: Path, kind: str, end: dt.datetime, now: dt.datetime) -> str:
    """One line: the file, its setting, when it expires (or expired), how to renew it."""
    days = (end - now).total_seconds() / 86_400
    when = (
        f"expired {_stamp(end)}"
        if days <= 0
        else f"expires {_stamp(end)} (in {days:.0f} days)"
        if days >= 1
        else f"expires {_stamp(end)} (today)"
    )
    return f"TLS certificate {path} ({setting}) {when}: {RENEW[kind]}"


def expired_file(setting: str, path: Path | None, kind: str, now: dt.datetime) -> str | None:
    """The file's line when a certificate in it has expired on this clock, else None."""
    if path is None or (end := not_after(path)) is None or end > now:
        return None
    return expiry_line(setting, path, kind, end, now)


def expired_client(cert_file: Path | None, now: dt.datetime) -> str | None:
    """The client certificate's line when it has expired on this clock, else None."""
    return expired_file("mqtt.tls.cert_file", cert_file, "client", now)


# (setting, file, kind: a key of RENEW)
CertFile = tuple[str, Path, str]


def near(files: list[CertFile], now: dt.datetime) -> list[str]:
    """A line per file expiring within WARN_DAYS of `now` (or expired)."""
    out = []
    for setting, path, kind in files:
        end = not_after(path)
        if end is not None and (end - now).total_seconds() <= WARN_DAYS * 86_400:
            out.append(expiry_line(setting, path, kind, end, now))
    return out


def mqtt_files(tls: TlsConfig | None) -> list[CertFile]:
    """The files of an [mqtt.tls] section: this machine's own certificate and the CA."""
    if tls is None:
        return []
    out: list[CertFile] = []
    if tls.cert_file is not None:
        out.append(("mqtt.tls.cert_file", tls.cert_file, "client"))
    if tls.ca_file is not None:
        out.append(("mqtt.tls.ca_file", tls.ca_file, "ca"))
    return out


async def watch(files: list[CertFile], clock: Callable[[], dt.datetime] | None = None) -> None:
    """A WARNING per file near its expiry, at start and every RECHECK_S; until cancelled.
    The journal is the IT admin's (a log line, `monitord status`): never a nurse's alarm."""
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    while True:
        try:
            lines = near(files, clock())
        except Exception:  # a parsing bug must not stop the daemon it runs in
            log.exception("certificate expiry check failed (a bug: please report it)")
            lines = []
        for line in lines:
            log.warning("%s", line)
        await asyncio.sleep(RECHECK_S)
