"""monitord/tlsclock.py `der_validity`, the certificate dates the clock line names, held
against OpenSSL's own reading of the same certificates (`openssl x509 -noout -dates`).

Real certificates of several key types (RSA 2048 and 4096, EC P-256, Ed25519: DER lengths
in the short, one- and two-byte long forms; a 70 kB one: three bytes), UTCTime and
GeneralizedTime on both sides of RFC 5280's pivots (UTCTime's YY >= 50 is 19YY; from 2050
on, GeneralizedTime), and broken DER (truncated, empty, not a certificate): None, never an
exception or a wrong date.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from monitord.tlsclock import der_validity

UTC = dt.UTC


def _key(kind: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _cert(kind: str, start: dt.datetime, end: dt.datetime, big: bool = False) -> bytes:
    k = _key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker.clinic.lan")])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if big:  # a 70 kB certificate: its lengths in the three-byte long form
        names = [x509.DNSName(f"chair-{n:05d}.clinic.lan") for n in range(3000)]
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    algo = None if kind == "ed25519" else hashes.SHA256()
    return b.sign(k, algo).public_bytes(serialization.Encoding.DER)


def _openssl(der: bytes, tmp_path: Path) -> tuple[dt.datetime, dt.datetime]:
    """OpenSSL's dates for the same DER: notBefore=Jan  1 00:00:00 1950 GMT."""
    f = tmp_path / "c.der"
    f.write_bytes(der)
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(f), "-noout", "-dates"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    got = dict(ln.split("=", 1) for ln in out.splitlines())
    return tuple(  # type: ignore[return-value]
        dt.datetime.strptime(got[k], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
        for k in ("notBefore", "notAfter")
    )


T = dt.datetime
CASES = [
    # key,       notBefore,                 notAfter                       : what it holds
    ("rsa2048", T(2026, 12, 1, 8, 30, 5, tzinfo=UTC), T(2027, 12, 1, tzinfo=UTC)),
    ("rsa4096", T(2026, 1, 2, tzinfo=UTC), T(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),  # UTCTime 49
    ("ec", T(2026, 12, 4, 21, 0, 0, tzinfo=UTC), T(2050, 1, 1, tzinfo=UTC)),  # Generalized 2050
    ("ed25519", T(2000, 2, 29, tzinfo=UTC), T(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),  # RFC 5280
    ("ec", T(1950, 1, 1, tzinfo=UTC), T(2068, 6, 1, tzinfo=UTC)),  # UTCTime 50 is 1950
    ("rsa2048", T(1968, 7, 1, tzinfo=UTC), T(2099, 1, 1, tzinfo=UTC)),  # UTCTime 68 is 1968
    ("ed25519", T(1970, 1, 1, tzinfo=UTC), T(2038, 1, 19, 3, 14, 8, tzinfo=UTC)),  # fresh Pi
]


@pytest.mark.parametrize(("kind", "start", "end"), CASES, ids=[f"{c[0]}-{c[1]:%Y}" for c in CASES])
def test_der_validity_reads_the_dates_openssl_reads(
    kind: str, start: dt.datetime, end: dt.datetime, tmp_path: Path
) -> None:
    der = _cert(kind, start, end)
    assert _openssl(der, tmp_path) == (start, end)  # the table itself, as OpenSSL reads it
    assert der_validity(der) == (start, end)


def test_a_70_kB_certificate_three_byte_lengths(tmp_path: Path) -> None:
    start, end = T(2026, 12, 1, tzinfo=UTC), T(2027, 1, 1, tzinfo=UTC)
    der = _cert("ec", start, end, big=True)
    assert der[1] == 0x83, der[:4].hex()  # the long form the reader must follow
    assert _openssl(der, tmp_path) == (start, end)
    assert der_validity(der) == (start, end)


def test_broken_der_is_none() -> None:
    der = _cert("ec", T(2026, 12, 1, tzinfo=UTC), T(2027, 1, 1, tzinfo=UTC))
    for cut in range(len(der)):
        got = der_validity(der[:cut])
        # Cut after the validity, the dates are still whole; cut before or inside: None.
        assert got is None or got == (T(2026, 12, 1, tzinfo=UTC), T(2027, 1, 1, tzinfo=UTC))
    assert der_validity(der[:40]) is None
    assert der_validity(b"") is None
    assert der_validity(b"\x30\x03\x02\x01\x05") is None  # a SEQUENCE, not a certificate
    assert der_validity(b"-----BEGIN CERTIFICATE-----") is None  # PEM, not DER
