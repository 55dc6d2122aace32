"""An HTTPS server's certificate refused, said as such: not trusted (signed by a CA this
machine does not trust), not the server's name (issued for another host than the URL's)
or not a server's certificate; and a server that refuses us for want of a client
certificate (TLS 1.3's alert).

Before, the InfluxDB sink's line ended "(is InfluxDB running and influx.url right?)",
`monitord doctor` said "not reachable ... is the database running?" and `monitord report
--from influx` gave OpenSSL's words alone: the IT admin went to a server that was running.
Used by those three (monitord/sinks/influx_http.py, commands/doctor_influx.py,
report/influxload.py), and by the station's webhook forwarder (station/forwarder.py), its
expired certificate's line too (expired_said). An expired or not yet valid certificate has
lines of its own (monitord/tlsclock.py).

Their HTTPS clients trust the system's CA store (monitord/config_tls.py `web_verifier`):
there is no CA setting of their own, so the line names the file and the directory OpenSSL
reads (`trusted_cas`). Also said: a TLS 1.2 server's handshake failure (perhaps for want of
a client certificate), an https:// URL to a port that speaks no TLS, and a CA expired
under a valid server certificate.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from monitord.config_tls import web_verifier
from monitord.tlsclock import der_common_name, der_names, der_validity, expired

# OpenSSL's verify results (include/openssl/x509_vfy.h): the chain ends at no trusted CA.
UNTRUSTED = frozenset(
    (
        2,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        18,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: a self-signed server certificate
        19,  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: the server sent a CA not trusted here
        20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: its CA is not in the store
        21,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    )
)
# ... and the certificate is not for the name (62) or the address (64) the URL names.
MISMATCH = frozenset((62, 64))  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# ... and the certificate is not one for a TLS server (X509_V_ERR_INVALID_PURPOSE): its
# extendedKeyUsage names no serverAuth (a client's certificate installed as the server's,
# or one made for signing). Before, "is InfluxDB running?" of a server that was running.
WRONG_PURPOSE = 26
# Debian's way to add a CA to the system's store (update-ca-certificates(8): a .crt file
# in /usr/local/share/ca-certificates); the clinic's CA is scripts/make-certs.sh's.
ADD_CA = (
    "add the CA that signed it (the clinic's: clinic-ca.pem) to this machine's store: "
    "cp clinic-ca.pem /usr/local/share/ca-certificates/clinic-ca.crt && "
    "update-ca-certificates"
)


def add_ca() -> str:
    """The fix for a server signed by a CA not trusted here: that CA in the store read."""
    env = os.environ.get("SSL_CERT_FILE")
    if env:  # the store is not read: adding the CA there would change nothing
        return f"add the CA that signed it (the clinic's: clinic-ca.pem) to {env}"
    return ADD_CA


def trusted_cas() -> str:
    """Where the CAs trusted by monitord's HTTPS clients are read from, as OpenSSL reads them
    (create_default_context: X509_STORE_set_default_paths): a CA file, SSL_CERT_FILE's or
    the system's, and a directory of hashed links, SSL_CERT_DIR's or the system's. Both are
    read: before, the line named SSL_CERT_FILE alone, and a CA put in SSL_CERT_DIR's
    directory (or one left there) went unsaid. A setting is named as set (where the IT
    admin finds it); the system's paths as they resolve (Debian's /usr/lib/ssl/cert.pem is
    /etc/ssl/certs/ca-certificates.crt, which update-ca-certificates writes)."""
    paths = ssl.get_default_verify_paths()
    read = []
    for env, found in (
        (paths.openssl_cafile_env, paths.cafile),
        (paths.openssl_capath_env, paths.capath),
    ):
        value = os.environ.get(env)
        if value:
            # OpenSSL reads SSL_CERT_DIR as a list (':'); Python's capath is None unless
            # the whole value is one directory.
            there = found or any(os.path.isdir(d) for d in value.split(os.pathsep))
            read.append(f"{env}={value}" + ("" if there else " (missing)"))
        elif found:
            read.append(os.path.realpath(found))
    if not read:  # neither the system's file nor its directory exists
        return f"nowhere: neither {paths.openssl_cafile} nor {paths.openssl_capath} exists"
    return " and ".join(read)


def chain_cas() -> str:
    """The CA of an HTTPS server's chain as tlsclock.clock_fact names it: no setting of
    monitord's (the broker's is ca_file), this machine's trusted CAs (`trusted_cas`)."""
    return f"the CA that signed it, or one above it; the trusted CAs are read from {trusted_cas()}"


# TLS 1.3's alert of a server that wants a client certificate (RFC 8446 section 6.2:
# certificate_required), as OpenSSL names it.
CERT_REQUIRED = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
# TLS 1.2 has no such alert: OpenSSL's server (`s_server -Verify`, SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
# ends a handshake without the client certificate it asked for with handshake_failure
# (RFC 5246 7.4.6), the alert it also sends when it shares no cipher with us:
# seen with `openssl s_server -tls1_2 -Verify 1` and with `-cipher` of one we do not offer
# (tests/delivery/test_influx_tls_advice.py). Before, "is InfluxDB running?" of a server
# that answered; the alert alone cannot say which, so the line names both.
HANDSHAKE_FAILURE = "SSLV3_ALERT_HANDSHAKE_FAILURE"


# OpenSSL's error when the first bytes answered are no TLS record (a record header whose
# version is not TLS's): a server speaking plain HTTP on that port answers "HTTP/1.1 400"
# (seen against a real influxd without https-enabled: tests/delivery/test_influx_tls_advice.py).
# Before, "wrong version number (is InfluxDB running and influx.url right?)", and doctor's
# "not reachable ... is the database running?", of a server that was running and answered:
# a TLS version to look for, where the URL's scheme or port was what was wrong.
NOT_TLS = "WRONG_VERSION_NUMBER"


def _alert(e: BaseException | None) -> str | None:
    """OpenSSL's name for the TLS error `e` carries (its `reason`), if any."""
    # aiohttp's ClientOSError carries the ssl.SSLError as its cause, its
    # ClientConnectorSSLError (a handshake that failed) as its os_error; urllib's is the
    # reason (the callers pass it).
    for x in (e, None if e is None else e.__cause__, getattr(e, "os_error", None)):
        if isinstance(x, ssl.SSLError) and isinstance(getattr(x, "reason", None), str):
            return str(x.reason)
    return None


def _host_port(url: str) -> str:
    u = urlsplit(url)
    host = u.hostname or url
    return f"{f'[{host}]' if ':' in host else host}:{u.port or 443}"


# The refusals `refused` says, by `refusal`'s names beside OpenSSL's alerts' own.
NOT_FOR_HOST = "not issued for the URL's host"
NOT_A_SERVER = "not a server's certificate"
NOT_TRUSTED = "not signed by a trusted CA"


def refusal(e: BaseException | None) -> str | None:
    """Which of the faults `refused` says `e` is (an OpenSSL alert's name, NOT_FOR_HOST,
    NOT_A_SERVER or NOT_TRUSTED), None for none of them. Also a failure's class for the
    journal: the station forwarder says each at WARNING (station/forwarder.py), where all
    were one exception type and an alarm's "not trusted" then "expired" had the second at
    DEBUG."""
    alert = _alert(e)
    if alert in (CERT_REQUIRED, HANDSHAKE_FAILURE, NOT_TLS):
        return alert
    if not isinstance(e, ssl.SSLCertVerificationError):
        return None
    if e.verify_code in MISMATCH:
        return NOT_FOR_HOST
    if e.verify_code == WRONG_PURPOSE:
        return NOT_A_SERVER
    return NOT_TRUSTED if e.verify_code in UNTRUSTED else None


def refused(e: BaseException | None, url: str, what: str, key: str) -> tuple[str, str] | None:
    """(what was wrong, the fix) when `e` is `what`'s certificate refused as not trusted
    or as issued for another name than `url`'s (`key`: the setting holding the URL), or
    `what` refusing us for want of a client certificate (TLS 1.3), or perhaps so (TLS 1.2's
    handshake failure), or no TLS at that address (`refusal`); None for anything else."""
    kind = refusal(e)
    if kind == CERT_REQUIRED:
        # Before, "is InfluxDB running?" of a server that answered (the alert is its).
        return (
            f"the {what} (or a proxy in front of it) asks for a client certificate, and "
            "monitord's HTTPS clients have none to give (TLS alert: certificate required)",
            f"let the server at {key} take this machine's connections without a client certificate",
        )
    if kind == HANDSHAKE_FAILURE:
        return (
            f"the {what} (or a proxy in front of it) ended the handshake (TLS alert: "
            "handshake failure): it may want a client certificate, which monitord's HTTPS "
            "clients have none to give, or share no cipher with this machine",
            # The alert alone cannot say which; OpenSSL's client can: it prints the
            # server's CertificateRequest, or no cipher (seen against both servers above).
            f"`openssl s_client -connect {_host_port(url)}` says which: 'Acceptable client "
            "certificate CA names' when it asks for one (let it take this machine's "
            "connections without), 'Cipher is (NONE)' when no cipher is shared (offer "
            "current ciphers on the server)",
        )
    if kind == NOT_TLS:
        return (
            f"{key} is https://, but what answered at {_host_port(url)} does not speak TLS "
            "(OpenSSL: wrong version number): a plain HTTP server on that port, or another "
            "service's port",
            # Not "use http://": its token or password would cross the network in the clear.
            f"set {key} to the port the {what} serves HTTPS on, or turn HTTPS on in it",
        )
    if kind is None or not isinstance(e, ssl.SSLCertVerificationError):
        return None
    host = urlsplit(url).hostname or url
    if kind == NOT_FOR_HOST:
        name = "address" if e.verify_code == 64 else "name"
        return (
            f"the {what}'s certificate was refused: it is not issued for {host}, the {name} "
            f"in {key}",
            f"set {key} to a name the certificate is issued for, or reissue the server's "
            f"certificate with {host} in it",
        )
    if kind == NOT_A_SERVER:
        return (
            f"the {what}'s certificate was refused: it is not a server's certificate "
            f"({e.verify_message}: its extendedKeyUsage has no serverAuth; a client's "
            "certificate installed as the server's?)",
            "install the server's own certificate there, or reissue it with "
            "extendedKeyUsage = serverAuth",
        )
    return (  # NOT_TRUSTED
        f"the {what}'s certificate was refused: not signed by a CA this machine trusts "
        f"({e.verify_message}; the trusted CAs are read from {trusted_cas()})",
        add_ca(),
    )


def renew(what: str, cert: str, restart: str) -> str:
    """The fix when `what`'s own certificate expired (`cert`: where it is set; `restart`:
    what serves it), or a clock set ahead (an expiry is no boot: tlsclock.EXPIRED_FIX)."""
    return (
        f"renew the {what}'s certificate ({cert}) and restart {restart}; if this machine's "
        "clock is ahead (`timedatectl`), fix the clock instead"
    )


def renew_ca(what: str, cert: str, restart: str) -> str:
    """The fix when the CA that signed `what`'s certificate expired: a server certificate
    reissued from it expires the same instant (OpenSSL checks each certificate of the
    chain), so "renew the server's certificate" was no fix; the new CA trusted here as
    add_ca says."""
    return (
        f"make a new CA and reissue the {what}'s certificate from it ({cert}), restart "
        f"{restart}, and "
        + add_ca()
        + " (a clinic CA made by scripts/make-certs.sh signs the broker's and the station's "
        "too: docs/install.md, TLS certificates for the broker); if this machine's clock is "
        "ahead (`timedatectl`), fix the clock instead"
    )


INFLUX_CERT = "influxdb.conf [http] https-certificate"
# Made on install day with the broker's, it expires with them (docs/install.md, Renewal).
RENEW_INFLUX = renew("InfluxDB server", f"{INFLUX_CERT}; docs/install.md, Renewal", "influxdb")


def renew_ca_influx() -> str:
    """renew_ca of the InfluxDB server (add_ca reads SSL_CERT_FILE when called)."""
    return renew_ca("InfluxDB server", INFLUX_CERT, "influxdb")


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def expired_issuers(issuer: bytes, now: dt.datetime) -> list[str]:
    """The trusted CAs (web_verifier's: its file, and those of its directory it has looked
    up) whose subject is `issuer` (a certificate's, DER) and are past their notAfter at
    `now`, as "NAME (expired DATE)". Only that CA: before, every expired CA of the store
    was named (Debian's bundle holds some: Baltimore CyberTrust Root, expired 2025), the
    IT admin sent to a CA that signed nothing here. In DER (no decoding of the whole store
    on the daemon's event loop at each failure)."""
    out = []
    for ca in web_verifier().get_ca_certs(binary_form=True):
        names, dates = der_names(ca), der_validity(ca)
        if names is None or dates is None or names[1] != issuer or dates[1] > now:
            continue
        out.append(f"{der_common_name(issuer) or 'a CA'} (expired {_stamp(dates[1])})")
    return out


def ca_expired(what: str, der: bytes | None, now: dt.datetime) -> str | None:
    """What was wrong when OpenSSL said "certificate has expired" (X509_V_ERR_CERT_HAS_EXPIRED,
    10, of whichever certificate in the chain: `openssl verify` says "at 1 depth" of the
    CA, Python's error does not say which), from the server's certificate `der` (from a
    handshake that does not verify): valid at `now`, a CA of its chain expired; expired
    itself, and the trusted CA that signed it too (before, "renew the server's
    certificate": renewed from that CA, make-certs.sh reusing it, refused the same). None
    when only the server's certificate expired, or it is unknown."""
    dates, names = (der_validity(der), der_names(der)) if der else (None, None)
    if dates is None or names is None:
        return None
    cas = expired_issuers(names[0], now)
    if dates[1] <= now:
        if not cas:
            return None
        return (
            f"the {what}'s certificate expired on {_stamp(dates[1])}, and so did the CA that "
            f"signed it: {', '.join(cas)}"
        )
    if not cas:  # an intermediate CA the server sends, or one above it: not in the store
        return (
            f"the {what}'s certificate is valid until {_stamp(dates[1])}, but a CA of its "
            "chain (the one that signed it, or one above it) has expired on this machine's "
            "clock"
        )
    return (
        f"the {what}'s certificate is valid until {_stamp(dates[1])}, but the CA that "
        f"signed it has expired on this machine's clock: {', '.join(cas)}"
    )


def server_certificate(url: str, timeout_s: float) -> bytes | None:
    """The certificate (DER) the server at `url` sends, from a handshake that does not
    verify it (its only use: what the line says; nothing sent on it); None when it cannot
    be had. Blocking: for the one-shot clients (tlsclock.peer_certificate for the daemon)."""
    u = urlsplit(url)
    try:
        pem = ssl.get_server_certificate((u.hostname or "", u.port or 443), timeout=timeout_s)
    except (OSError, ValueError):  # ssl.SSLError and socket.timeout are OSErrors
        return None
    return ssl.PEM_cert_to_DER_cert(pem)


def expired_said(
    what: str, der: bytes | None, fix: str, ca_fix: Callable[[], str]
) -> tuple[str, str]:
    """(what was wrong, the fix) when OpenSSL said a certificate of `what`'s chain expired
    (tlsclock.expired), from `what`'s certificate `der` (a handshake that does not verify;
    None when it could not be had): its CA's expiry said as such (ca_expired), with
    `ca_fix()`; else "its certificate (or its CA) has expired", with `fix` (renew,
    renew_ca). The InfluxDB server's (influx_expired) and the station forwarder's webhook's
    (monitord/station/forwarder.py) in the same words."""
    if why := ca_expired(what, der, dt.datetime.now(dt.UTC)):
        return why, ca_fix()
    return (
        f"the {what}'s certificate (or the CA that signed it) has expired on this machine's clock",
        fix,
    )


def influx_expired(e: BaseException | None, url: str, timeout_s: float) -> tuple[str, str] | None:
    """(what was wrong, the fix) when `e` is the InfluxDB server's certificate, or its CA's,
    expired on this machine's clock; None for anything else. The daemon's sink said so
    (sinks/influx_http.py WriteCertExpired); doctor still said "not reachable ... is the
    database running?" and report OpenSSL's words alone. With `url`, the server's
    certificate is asked (server_certificate) to say the CA's expiry as such: before,
    "renew the server's certificate" of one that was valid, signed by an expired CA."""
    if e is None or not expired(e):
        return None
    der = server_certificate(url, timeout_s)
    return expired_said("InfluxDB server", der, RENEW_INFLUX, renew_ca_influx)


def influx_refused(e: BaseException | None, url: str, timeout_s: float) -> tuple[str, str] | None:
    """(what was wrong, the fix) when the InfluxDB server's certificate expired or was
    refused (`refused`), for the one-shot clients (doctor, `report --from influx`); the
    daemon's sink sorts the same faults into its own error classes."""
    return influx_expired(e, url, timeout_s) or refused(e, url, "InfluxDB server", "influx.url")
