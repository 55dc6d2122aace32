"""A TLS handshake that failed on this machine's clock, said as such.

A Raspberry Pi has no real-time clock: it boots on fake-hwclock's last saved time (hours
or days behind, 1970 on a fresh image) and systemd-timesyncd steps it forward once NTP
answers, possibly minutes after monitord started. Until then OpenSSL finds the broker's
certificate "not yet valid" (X509_V_ERR_CERT_NOT_YET_VALID, 9) and the handshake fails.
Before, the journal said "TLS ... failed ...; check mqtt.tls (ca_file, certs, port)": an IT
admin went to re-copy certificates that were right. The line now names the clock, the
certificate's first valid time and the fix (wait for time sync), and the sink retries at a
short fixed interval so it connects as soon as the clock is stepped.

The certificate's dates are read from a second handshake that does not verify (its only
use: the dates for the message; no MQTT, no client certificate sent on it), parsed from
the DER with the few lines below (the standard library has no public X.509 parser;
`cryptography` is not a dependency of the daemon).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl

# OpenSSL's verify results (include/openssl/x509_vfy.h).
NOT_YET_VALID = 9  # X509_V_ERR_CERT_NOT_YET_VALID
EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED
CLOCK_RETRY_S = 2.0  # a handshake every 2 s is cheap; the clock is stepped at any moment
# The short retry lasts this long into a run of failures: a boot's network and NTP are up
# within minutes. Past it, the cause is no boot (a misspelt mqtt.host, a certificate issued
# with a start ahead): retried every 2 s forever, a DNS query or TLS handshake every 2 s
# per chair from every Pi, for days; now the usual backoff, and said once more.
BOOT_WINDOW_S = 600.0
BOOT_CLASSES = ("clock", "dns", "net")  # describe_error's classes the short retry is for
_LATE = {
    "clock": "if `timedatectl` on this machine says 'System clock synchronized: yes', the "
    "certificate is wrong (issued valid from a time ahead): reissue it",
    "dns": "mqtt.host is misspelt or the DNS server does not know it; check with `getent "
    "hosts` and /etc/resolv.conf",
    "net": "this machine's network stays down, or mqtt.host is on no network it reaches; "
    "check the cable or Wi-Fi and `ip route get`",
}


def boot_retry(cls: str, msg: str, failing_for_s: float, delay: float) -> tuple[str, str, float]:
    """(class, line, delay) of a failure `failing_for_s` into its run: a boot's classes
    retried every CLOCK_RETRY_S within BOOT_WINDOW_S; past it, a class of their own (its
    WARNING said once more: "not a boot") at the backoff's `delay`."""
    if cls not in BOOT_CLASSES:
        return cls, msg, delay
    if failing_for_s < BOOT_WINDOW_S:
        return cls, msg, min(delay, CLOCK_RETRY_S)
    late = f"still so after {failing_for_s / 60:.0f} min, longer than a boot takes"
    return f"{cls}-late", f"{msg}; {late}: {_LATE[cls]}", delay


def not_yet_valid(e: BaseException) -> bool:
    """A certificate verify failure because a certificate's notBefore is after our clock."""
    return isinstance(e, ssl.SSLCertVerificationError) and e.verify_code == NOT_YET_VALID


def expired(e: BaseException) -> bool:
    """A certificate verify failure because a certificate's notAfter is past our clock."""
    return isinstance(e, ssl.SSLCertVerificationError) and e.verify_code == EXPIRED


# An expired certificate is no boot (the clock boots behind, never ahead): renew it, as
# `monitord doctor` says (commands/doctor_probe.py RENEW); a clock set ahead is the rest.
EXPIRED_FIX = (
    "renew it with scripts/make-certs.sh (docs/install.md; the CA is reused) and restart "
    "the broker; if this machine's clock is ahead (`timedatectl`), fix the clock instead"
)


def _tlv(b: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at `i`: its content is b[start:end]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i : i + k], "big")
        i += k
    return tag, i, i + n


def _time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii").rstrip("Z")
    if tag == 0x17:  # UTCTime: RFC 5280 4.1.2.5.1, YY >= 50 is 19YY (strptime's %y: 20YY
        # up to 68, so a certificate valid "from 1950" read as from 2050)
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _issuer_at(der: bytes) -> tuple[int, int]:
    """(where the issuer Name starts, where tbsCertificate ends) in a DER certificate (RFC
    5280 4.1: Certificate ::= SEQUENCE { tbsCertificate ::= SEQUENCE { [0] version
    (optional), serialNumber, signature, issuer, validity, subject, ... }, ... })."""
    _, i, _ = _tlv(der, 0)
    _, i, end = _tlv(der, i)
    tag, _, nxt = _tlv(der, i)
    if tag == 0xA0:
        i = nxt
    for _ in range(2):  # serialNumber, signature
        i = _tlv(der, i)[2]
    return i, end


def der_validity(der: bytes) -> tuple[dt.datetime, dt.datetime] | None:
    """(notBefore, notAfter) of a DER certificate (RFC 5280 4.1), None if not parsable."""
    try:
        i, end = _issuer_at(der)
        i = _tlv(der, i)[2]  # past the issuer
        tag, i, _ = _tlv(der, i)  # validity ::= SEQUENCE { notBefore, notAfter }
        t1, s1, e1 = _tlv(der, i)
        t2, s2, e2 = _tlv(der, e1)
        if tag != 0x30 or e2 > end:
            return None
        return _time(t1, der[s1:e1]), _time(t2, der[s2:e2])
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def der_names(der: bytes) -> tuple[bytes, bytes] | None:
    """(issuer, subject) of a DER certificate, each its Name's DER as encoded (RFC 5280
    4.1: a certificate's issuer is its CA's subject, copied), None if not parsable."""
    try:
        i, end = _issuer_at(der)
        issuer = _tlv(der, i)[2]
        validity = _tlv(der, issuer)[2]
        subject = _tlv(der, validity)[2]
        if subject > end:
            return None
        return der[i:issuer], der[validity:subject]
    except IndexError:
        return None


_CN = b"\x06\x03\x55\x04\x03"  # the OID of commonName (2.5.4.3), DER-encoded


def der_common_name(name: bytes) -> str | None:
    """The commonName of a DER Name (SEQUENCE OF SET OF SEQUENCE {OID, value}), if any."""
    at = name.find(_CN)
    if at < 0:
        return None
    try:  # a Name cut short (the line then says "a CA"), not an exception in the sink
        tag, start, end = _tlv(name, at + len(_CN))
    except IndexError:
        return None
    return name[start:end].decode("utf-8", "replace") if tag in (0x0C, 0x13, 0x16) else None


async def peer_certificate(host: str, port: int, timeout_s: float) -> bytes | None:
    """The server's certificate (DER), from a handshake that does not verify it (the one
    that does verify is what failed). Its own context, without the connection's client
    certificate: whoever answers is not verified (a machine in between may serve a
    future-dated certificate), so it gets neither that certificate nor a signature by its
    key. (TLS 1.3: the server's certificate is read before the server could ask for ours;
    a TLS 1.2 server that requires one may end the handshake first: then None.) None when
    the server cannot be reached again within `timeout_s`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
    except (OSError, TimeoutError):
        return None
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await writer.wait_closed()
    return der or None


async def peer_validity(
    host: str, port: int, timeout_s: float
) -> tuple[dt.datetime, dt.datetime] | None:
    """The server certificate's dates (peer_certificate's; before, from the connection's
    own context). None when the server cannot be reached again: the line then says "not
    valid yet"."""
    der = await peer_certificate(host, port, timeout_s)
    return der_validity(der) if der else None


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def clock_fix(what: str) -> str:
    """What to do, the same words in the daemon's journal line and in `monitord doctor`;
    `what`: whose certificate ("broker", "InfluxDB server", "webhook server"). Before, the
    InfluxDB server's and the webhook server's lines said "not the broker's own"."""
    return (
        "this machine's clock is behind (a Pi has no real-time clock: it boots on the last "
        "saved time); wait for time sync (`timedatectl` shows 'System clock synchronized: "
        "yes'; NTP must be reachable); if it says yes already, the clock is right and the "
        f"certificate is wrong (issued valid from a time ahead, or not the {what}'s own: see "
        "its dates with `openssl s_client`)"
    )


# The broker's CA as its line names it: the setting it is read from ([mqtt.tls] ca_file).
BROKER_CA = "the CA: ca_file"


def clock_fact(
    what: str, now: dt.datetime, validity: tuple[dt.datetime, dt.datetime] | None, ca: str
) -> str:
    """The clock and the certificate's first valid time. `what`: whose server ("broker");
    `now`: this machine's wall clock at the failure; `validity`: peer_validity's answer;
    `ca`: where that server's CA is read from, said when the server's own certificate is
    valid and a CA of its chain is not yet (BROKER_CA; the InfluxDB server's and the
    webhook's are the system store's: tlsrefused.chain_cas). Before, every server's line
    named the broker's setting, ca_file."""
    if validity is None:  # its dates unknown (the second handshake failed too)
        cert = f"the {what}'s certificate is not valid yet"
    elif validity[0] > now:
        cert = f"the {what}'s certificate is valid from {_stamp(validity[0])}"
    else:  # the server's own certificate is valid: a CA in the chain is not, yet
        cert = f"a certificate of the {what}'s chain ({ca}) is not valid yet"
    return f"the clock is {_stamp(now)}, {cert}"


def clock_words(
    what: str, where: str, now: dt.datetime, validity: tuple[dt.datetime, dt.datetime] | None
) -> str:
    """One line of the broker (`what`): the clock, the certificate's first valid time, the
    fix."""
    return (
        f"TLS with {where} failed: {clock_fact(what, now, validity, BROKER_CA)}: {clock_fix(what)}"
    )
