"""The advice of a refused HTTPS connection to InfluxDB where it sent the IT admin the wrong
way (monitord/tlsrefused.py), against real OpenSSL servers on 127.0.0.1: `openssl s_server`
for what only it does (TLS 1.2 with a client certificate required), the three lines as in
tests/delivery/test_influx_cert_refused.py (the daemon's sink, doctor, report).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitord.tlsrefused import trusted_cas
from tests.delivery.test_influx_cert_refused import serve, system_store, three_lines, trusted
from tests.servers import Influxd, SServer, TlsMaterial, make_tls_material

__all__ = ["trusted"]  # the fixture, used by name


Start = Callable[[list[str]], int]  # s_server's arguments -> its port, once it listens


@pytest.fixture
def tls(tmp_path: Path) -> TlsMaterial:
    return make_tls_material(tmp_path / "tls")


@pytest.fixture
def s_server(tmp_path: Path, tls: TlsMaterial) -> Iterator[Start]:
    procs: list[SServer] = []

    def start(args: list[str]) -> int:
        p = SServer(tmp_path / f"s_server{len(procs)}", tls, args)
        procs.append(p)
        p.start()
        return p.port

    yield start
    for p in procs:
        p.stop()


# A client certificate required (SSL_VERIFY_FAIL_IF_NO_PEER_CERT), TLS 1.2 only.
CLIENT_CERT = ["-tls1_2", "-Verify", "1"]
# No cipher in common (a NULL cipher only, which no client offers): the same alert.
NO_CIPHER = ["-tls1_2", "-cipher", "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0"]


@pytest.mark.parametrize("args", [CLIENT_CERT, NO_CIPHER], ids=["client-cert", "no-cipher"])
async def test_a_tls12_handshake_failure_names_a_client_certificate_among_its_causes(
    s_server: Start,
    tls: TlsMaterial,
    monkeypatch: pytest.MonkeyPatch,
    trusted: None,
    args: list[str],
) -> None:
    # Before: "is InfluxDB running?" (sink), "is the database running?" (doctor), OpenSSL's
    # words alone (report), of a server that answered and ended the handshake.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))  # trusted: the alert is all
    port = s_server(args)
    lines = await three_lines(port)
    why = (
        "the InfluxDB server (or a proxy in front of it) ended the handshake (TLS alert: "
        "handshake failure): it may want a client certificate, which monitord's HTTPS "
        "clients have none to give, or share no cipher with this machine"
    )
    fix = (
        f"`openssl s_client -connect localhost:{port}` says which: 'Acceptable client "
        "certificate CA names' when it asks for one (let it take this machine's connections "
        "without), 'Cipher is (NONE)' when no cipher is shared (offer current ciphers on "
        "the server)"
    )
    url = f"https://localhost:{port}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


async def test_https_to_a_plain_http_influxd_says_it_speaks_no_tls(
    influxd: Influxd, trusted: None
) -> None:
    # A real influxd without https-enabled, influx.url https:// to its port. Before:
    # "wrong version number (is InfluxDB running and influx.url right?)" (the sink), "not
    # reachable (...) -> fix: is the database running" (doctor), OpenSSL's words (report):
    # a TLS version to look for, of a server that was running and answered.
    lines = await three_lines(influxd.port)
    hp = f"localhost:{influxd.port}"
    why = (
        f"influx.url is https://, but what answered at {hp} does not speak TLS (OpenSSL: "
        "wrong version number): a plain HTTP server on that port, or another service's port"
    )
    fix = "set influx.url to the port the InfluxDB server serves HTTPS on, or turn HTTPS on in it"
    url = f"https://{hp}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


def test_the_fix_s_command_tells_the_two_causes_apart(s_server: Start) -> None:
    # What the line tells the IT admin to run, run: each cause shows its own words.
    asks = s_server(CLIENT_CERT)
    no_cipher = s_server(NO_CIPHER)

    def s_client(port: int) -> str:
        return subprocess.run(
            ["openssl", "s_client", "-connect", f"localhost:{port}"],
            input=b"", capture_output=True, timeout=10, check=False,
        ).stdout.decode()  # fmt: skip

    said = s_client(asks)
    assert "Acceptable client certificate CA names" in said and "Cipher is (NONE)" not in said
    said = s_client(no_cipher)
    assert "Cipher is (NONE)" in said and "Acceptable client certificate CA names" not in said


def hashed_dir(d: Path, ca: Path) -> None:
    """`d` holding `ca` as OpenSSL looks a directory's CAs up: by a hash of their name."""
    d.mkdir()
    (d / "ca.pem").write_bytes(ca.read_bytes())
    subprocess.run(["openssl", "rehash", str(d)], check=True, capture_output=True)


async def test_the_trusted_cas_name_ssl_cert_dir_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # Python's default context reads SSL_CERT_DIR's directory as well as SSL_CERT_FILE's
    # file: a CA hashed into that directory is trusted (shown first), so the line names both.
    server = make_tls_material(tmp_path / "server")
    other = make_tls_material(tmp_path / "other")
    cadir, empty, no_ca = tmp_path / "cadir", tmp_path / "empty", tmp_path / "no-ca.pem"
    hashed_dir(cadir, server.ca_file)
    empty.mkdir()
    no_ca.write_bytes(b"")
    # (Not `other`'s CA in the file meanwhile: OpenSSL looks a CA up by its name in what it
    # loaded first, and both test CAs have the same name.)
    monkeypatch.setenv("SSL_CERT_FILE", str(no_ca))
    monkeypatch.setenv("SSL_CERT_DIR", str(cadir))
    async with serve(server) as port:
        _, w = await asyncio.open_connection(
            "localhost", port, ssl=ssl.create_default_context()
        )  # trusted: the directory's CA
        w.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
        monkeypatch.setenv("SSL_CERT_DIR", str(empty))
        lines = await three_lines(port)
    read = f"SSL_CERT_FILE={other.ca_file} and SSL_CERT_DIR={empty}"
    said = f"(unable to get local issuer certificate; the trusted CAs are read from {read})"
    for line in lines:
        assert said in line, line


def test_without_the_settings_the_system_s_file_and_directory_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    want = system_store()
    assert want and trusted_cas() == want


def test_a_setting_that_names_nothing_is_said_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "gone.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "gone"))
    assert trusted_cas() == (
        f"SSL_CERT_FILE={tmp_path / 'gone.pem'} (missing) and "
        f"SSL_CERT_DIR={tmp_path / 'gone'} (missing)"
    )


def expired_root(path: Path, name: str) -> Path:
    """A self-signed CA named `name`, expired yesterday, as a store can hold one beside the
    clinic's (Debian's bundle on this machine: Baltimore CyberTrust Root, expired 2025)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    k = ec.generate_private_key(ec.SECP256R1())
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(n)
        .issuer_name(n)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(k, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


async def test_an_expired_ca_named_is_the_one_that_signed_the_server_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # The store also holds an expired CA that signed nothing here. Before, every expired
    # CA of the store was named as "the CA that signed it" (the system's: five on this
    # machine's Debian, Hongkong Post's to Entrust's): the IT admin sent to the wrong one.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", ca_until=past)
    store = tmp_path / "store.pem"
    old = expired_root(tmp_path / "old.pem", "Old Root CA")
    store.write_bytes(old.read_bytes() + tls.ca_file.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    async with serve(tls) as port:
        lines = await three_lines(port, whose=True)
    for line in lines:
        assert "but the CA that signed it has expired on this machine's clock: " in line, line
        assert "monitord test CA (expired " in line, line
        assert "Old Root CA" not in line, line


async def test_an_expired_server_certificate_from_an_expired_ca_says_make_a_new_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # Both expired. Before, "renew the InfluxDB server's certificate (... Renewal)": renewed
    # from the same CA (make-certs.sh reuses it), it is refused the same.
    now = dt.datetime.now(dt.UTC)
    server_until, ca_until = now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=server_until, ca_until=ca_until)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    async with serve(tls) as port:
        lines = await three_lines(port, whose=True)
    for line in lines:
        assert "the InfluxDB server's certificate expired on " in line, line
        assert "and so did the CA that signed it: monitord test CA (expired " in line, line
        assert "make a new CA and reissue the InfluxDB server's certificate from it" in line, line
        assert "renew the InfluxDB server's certificate" not in line, line
