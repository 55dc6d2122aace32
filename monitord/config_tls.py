"""How monitord verifies the servers it connects to (`broker_verifier`, `web_verifier`),
and what is in a TLS file the config names, judged by loading it as its reader does:
the broker's CA (`[mqtt.tls] ca_file`: the daemon, the station, doctor) and the station's
own certificate and key (`[station] tls_cert_file` / `tls_key_file`: its HTTPS listener).

Each problem is the end of one line (monitord/config_checks.py puts the key and the file
before it): what the file holds instead, and how to get the right one. Without these the
file was found "ok" and then failed where the reason is lost: every TLS handshake of the
daemon refused and retried for ever, or the station stopping with "cannot listen on ...:
[SSL] PEM lib".
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

PEM = b"-----BEGIN "

# What Python 3.13 added to create_default_context()'s verification (3.11 and 3.12 have
# neither): STRICT refuses a broker certificate without an Authority Key Identifier (one
# signed by OpenSSL 1.1's `x509 -req` without it in the -extfile, which 3.11 accepts), and
# PARTIAL_CHAIN takes an intermediate CA in ca_file as a trust anchor. On Debian 13 the
# daemon then no longer reached a broker it had reached on Debian 12, with one certificate.
_ADDED_IN_313 = getattr(ssl, "VERIFY_X509_STRICT", 0) | getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)


def broker_verifier(ca_file: Path | None) -> ssl.SSLContext:
    """A client context checking the broker's certificate against `ca_file` (the system's
    CAs without one) as Python 3.11 does, on every Python: the same certificate is accepted
    or refused whatever Python the Pi's Debian brings (tests/delivery/test_mqtt_tls_no_aki.py)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.verify_flags &= ~_ADDED_IN_313
    return ctx


@functools.cache
def web_verifier() -> ssl.SSLContext:
    """The context of monitord's HTTPS clients: InfluxDB (the sink, v1 and v2, its ping,
    doctor, `monitord report`) and the station's forwarder. They took Python's default
    (aiohttp's, influxdb-client's and urllib's: create_default_context()), so on 3.13 an
    https:// InfluxDB whose certificate has no Authority Key Identifier was refused where
    3.11 wrote to it. Now the system's CAs, verified as the broker is (`broker_verifier`;
    tests/delivery/test_tls_verify_any_python.py). One per process: it reads the system's
    CA store (blocking), as aiohttp's own default is read once."""
    return broker_verifier(None)


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError:
        return b""  # unreadable: config_checks says so, with its own fix


def _der_certificate(data: bytes) -> bool:
    """`data` is one certificate in DER (binary ASN.1), which OpenSSL loads as cadata."""
    if PEM in data or not data.startswith(b"\x30"):
        return False
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=data)
    except (ssl.SSLError, ValueError):
        return False
    return True


def _convert(p: Path, what: str) -> str:
    """The command turning DER file `p` into PEM (`what`: x509 or pkey), and the result."""
    out = p.with_suffix(".pem") if p.suffix != ".pem" else p.with_name(f"{p.stem}-pem.pem")
    return f"openssl {what} -inform der -in {p} -out {out}, and name {out}"


def _no_certificate(p: Path, data: bytes, wanted: str) -> str:
    """Why `p` holds no PEM certificate (`wanted` says which one to name instead)."""
    if _der_certificate(data):
        return (
            "a DER-encoded (binary) certificate; monitord reads PEM (text): convert it "
            f"with {_convert(p, 'x509')}"
        )
    if b"PRIVATE KEY-----" in data:
        return f"a private key, not a certificate: name {wanted}, not its key"
    if not data.strip():
        return f"empty: name {wanted}"
    return f"no PEM certificate in it: name {wanted}"


def ca_problem(p: Path) -> str | None:
    """Why CA file `p` (there and readable) does not load as the daemon loads it, or None.
    The CA's key copied in its place (make-certs.sh writes both side by side), an empty
    file, a CA exported in DER: the daemon started and failed every TLS handshake."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(p))
    except ssl.SSLError as e:
        why = _no_certificate(p, _read(p), "the clinic's CA certificate (PEM, e.g. clinic-ca.pem)")
        return f"no CA certificate in it ({e.reason or e}): {why}"
    except (OSError, ValueError) as e:
        return f"cannot be loaded ({getattr(e, 'strerror', None) or e})"
    return None


def _no_passphrase() -> bytes:
    # Never OpenSSL's prompt on the terminal: the station under its unit has none.
    return b""


def station_problems(cert: Path, key: Path) -> list[tuple[str, Path, str]]:
    """(setting, file, why) of the station's certificate and key that do not load as the
    station loads them (monitord/station/server.py, `Station.ssl_context`); [] if they do."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key), password=_no_passphrase)
    except ssl.SSLError as e:
        reason = e.reason or ""
    except OSError as e:
        return [("tls_cert_file", cert, f"cannot be loaded ({e.strerror or e})")]
    else:
        return []
    data = _read(cert)
    if b"CERTIFICATE-----" not in data:
        wanted = "the station's certificate (PEM, e.g. station.pem)"
        return [("tls_cert_file", cert, _no_certificate(cert, data, wanted))]
    if reason == "KEY_VALUES_MISMATCH":
        return [
            (
                "tls_key_file",
                key,
                f"not the key of the certificate in {cert}: name the key made with it",
            )
        ]
    text = _read(key)
    if b"ENCRYPTED" in text:
        return [
            (
                "tls_key_file",
                key,
                "encrypted with a passphrase, which the station cannot be asked for at "
                f"start: write it unencrypted (openssl pkey -in {key} -out NEW; owned by "
                "monitord, 0600: docs/install.md) and name that",
            )
        ]
    if b"PRIVATE KEY-----" not in text:
        if PEM not in text and text.startswith(b"\x30"):
            why = f"binary (DER?); monitord reads PEM: convert it with {_convert(key, 'pkey')}"
        else:
            kind = "a certificate, not a private key" if b"CERTIFICATE-----" in text else ""
            why = f"{kind or 'no PEM private key in it'}: name the station's key (station.key)"
        return [("tls_key_file", key, why)]
    # Both look right and still do not load together (a damaged file, an unsupported key).
    return [("tls_cert_file", cert, f"does not load with {key} ({reason or 'SSL error'})")]
