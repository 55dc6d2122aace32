"""InfluxDB over HTTPS whose certificate this machine refuses: signed by a CA it does not
trust, or issued for another host than influx.url's (monitord/tlsrefused.py). A real TLS
server on 127.0.0.1 (real OpenSSL handshakes; nothing past the handshake is needed), the
trusted CAs set as a clinic does, by the file OpenSSL reads (SSL_CERT_FILE here).

Before, the daemon's line was "cannot connect to https://...: [SSL: CERTIFICATE_VERIFY_FAILED]
... (is InfluxDB running and influx.url right?)", `monitord doctor` said "not reachable
(...) -> fix: is the database running (systemctl status influxdb)? check influx.url" and
`monitord report --from influx` OpenSSL's words alone: each sent the IT admin to a server
that was running. Now each says the certificate was refused, why, and the fix. In process
(the three as the daemon's sink, doctor and report call them), a second each at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from monitord.commands.doctor_influx import check_influx
from monitord.config import loads_config
from monitord.config_tls import web_verifier
from monitord.report.influxload import InfluxReader, InfluxReadError
from monitord.sinks.influx_http import WriteError, ping, whose_expiry
from monitord.tlsrefused import ADD_CA, RENEW_INFLUX
from tests.servers import TlsMaterial, make_tls_material

OLD_ADVICE = ("is InfluxDB running", "is the database running")


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The HTTPS clients' context reads the trusted CAs once per process (web_verifier):
    # read again for this test's SSL_CERT_FILE, and again after it.
    web_verifier.cache_clear()
    yield
    monkeypatch.undo()
    web_verifier.cache_clear()


@contextlib.asynccontextmanager
async def serve(tls: TlsMaterial) -> AsyncIterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.server_cert, tls.server_key)

    async def close(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    server = await asyncio.start_server(close, "127.0.0.1", 0, ssl=ctx)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def three_lines(port: int, whose: bool = False) -> tuple[str, str, str]:
    """The daemon sink's line (its idle probe: the write's is the same error), doctor's
    and report's, for influx.url https://localhost:PORT. `whose`: the sink's error as its
    `_on_error` says it (an expired certificate's owner asked: `whose_expiry`)."""
    cfg = loads_config(
        f'[site]\nid = "s1"\n[influx]\nurl = "https://localhost:{port}"\napi = "v1"\n'
        'database = "monitord"\ntimeout_s = 5.0\n[[chairs]]\nid = "c1"\n'
    )
    with pytest.raises(WriteError) as sink:
        await ping(cfg.influx)
    said = await whose_expiry(cfg.influx, sink.value) if whose else sink.value
    daemon = f"{said} ({said.probe_advice or said.advice})"
    doctor = (await check_influx(cfg, None, 5.0)).line()
    with pytest.raises(InfluxReadError) as report:
        await asyncio.to_thread(InfluxReader(cfg.influx, "s1")._query, "SHOW DATABASES")
    return daemon, doctor, str(report.value)


async def test_a_certificate_from_a_ca_not_trusted_here_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    server = make_tls_material(tmp_path / "server")
    other = make_tls_material(tmp_path / "other")  # the CA this machine trusts instead
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # read too (no hashed CA in it)
    async with serve(server) as port:
        lines = await three_lines(port)
    why = (
        "the InfluxDB server's certificate was refused: not signed by a CA this machine "
        "trusts (unable to get local issuer certificate; the trusted CAs are read from "
        f"SSL_CERT_FILE={other.ca_file} and SSL_CERT_DIR={tmp_path})"
    )
    fix = f"add the CA that signed it (the clinic's: clinic-ca.pem) to {other.ca_file}"
    url = f"https://localhost:{port}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


def system_store() -> str:
    """The system's CA file and directory, both read without SSL_CERT_FILE/SSL_CERT_DIR
    (tlsrefused.trusted_cas), as they resolve (Debian: /etc/ssl/certs/...)."""
    paths = ssl.get_default_verify_paths()
    return " and ".join(os.path.realpath(p) for p in (paths.cafile, paths.capath) if p)


async def test_without_ssl_cert_file_the_fix_is_the_system_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    store = system_store()
    async with serve(make_tls_material(tmp_path / "server")) as port:
        lines = await three_lines(port)
    for line in lines:
        assert f"the trusted CAs are read from {store})" in line, line
        assert ADD_CA in line, line
        assert not any(old in line for old in OLD_ADVICE), line


async def test_a_certificate_for_another_host_names_the_url_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    server = make_tls_material(tmp_path / "server", server_names=("influx.other.lan",))
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # trusted: only the name is wrong
    async with serve(server) as port:
        lines = await three_lines(port)
    why = (
        "the InfluxDB server's certificate was refused: it is not issued for localhost, "
        "the name in influx.url"
    )
    fix = (
        "set influx.url to a name the certificate is issued for, or reissue the server's "
        "certificate with localhost in it"
    )
    url = f"https://localhost:{port}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


async def test_a_client_s_certificate_on_the_server_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # Trusted, but made for a client (extendedKeyUsage clientAuth): OpenSSL refuses it as
    # "unsuitable certificate purpose". Before, all three said the running server was not.
    tls = make_tls_material(tmp_path / "server")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    client_s = dataclasses.replace(tls, server_cert=tls.client_cert, server_key=tls.client_key)
    async with serve(client_s) as port:
        lines = await three_lines(port)
    why = (
        "the InfluxDB server's certificate was refused: it is not a server's certificate "
        "(unsuitable certificate purpose: its extendedKeyUsage has no serverAuth; a client's "
        "certificate installed as the server's?)"
    )
    fix = (
        "install the server's own certificate there, or reissue it with "
        "extendedKeyUsage = serverAuth"
    )
    url = f"https://localhost:{port}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


async def test_an_expired_certificate_is_said_so_by_doctor_and_report_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # The daemon's sink said "renew" (WriteCertExpired); doctor said "not reachable ...
    # is the database running?" and report OpenSSL's words alone, of a running server.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    tls = make_tls_material(tmp_path / "server", server_until=past)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    async with serve(tls) as port:
        daemon, doctor, report = await three_lines(port)
    url = f"https://localhost:{port}"
    why = (
        "the InfluxDB server's certificate (or the CA that signed it) has expired on this "
        "machine's clock"
    )
    assert "certificate has expired" in daemon and daemon.endswith(f"({RENEW_INFLUX})"), daemon
    assert (doctor, report) == (
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {RENEW_INFLUX}",
        f"cannot query {url}: {why}; {RENEW_INFLUX}",
    )


async def test_an_expired_ca_is_said_so_not_renew_the_server_s_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # The server's certificate valid, the CA that signed it (trusted here) past its
    # notAfter: OpenSSL says "certificate has expired" of either (verify code 10; `openssl
    # verify` says "at 1 depth" of the CA). Before, all three said "renew the InfluxDB
    # server's certificate": reissued from that CA, it was refused the same.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    tls = make_tls_material(tmp_path / "server", ca_until=past)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # no CA of its own
    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    server = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    stamp = "%Y-%m-%d %H:%M:%SZ"
    async with serve(tls) as port:
        daemon, doctor, report = await three_lines(port, whose=True)
    url = f"https://localhost:{port}"
    why = (
        f"the InfluxDB server's certificate is valid until "
        f"{server.not_valid_after_utc.strftime(stamp)}, but the CA that signed it has "
        f"expired on this machine's clock: monitord test CA (expired "
        f"{ca.not_valid_after_utc.strftime(stamp)})"
    )
    fix = (
        "make a new CA and reissue the InfluxDB server's certificate from it (influxdb.conf "
        "[http] https-certificate), restart influxdb, and add the CA that signed it (the "
        f"clinic's: clinic-ca.pem) to {tls.ca_file} (a clinic CA made by scripts/make-certs.sh "
        "signs the broker's and the station's too: docs/install.md, TLS certificates for the "
        "broker); if this machine's clock is ahead (`timedatectl`), fix the clock instead"
    )
    assert (daemon, doctor, report) == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )


@contextlib.contextmanager
def asks_client_certificate(tls: TlsMaterial) -> Iterator[int]:
    """A TLS 1.3 server that wants a client certificate (as a proxy with client
    verification on): OpenSSL's server sends the alert `certificate_required`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(tls.server_cert, tls.server_key)
    ctx.load_verify_locations(tls.ca_file)
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            s = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            with contextlib.suppress(OSError):
                s.do_handshake()  # fails: the alert is sent
            # Closed with the client's request unread, the kernel would send a reset that
            # may reach the client before the alert: read on until the client hangs up.
            with socket.socket(fileno=s.detach()) as raw, contextlib.suppress(OSError):
                raw.settimeout(10)
                while raw.recv(4096):
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        t.join(10)


async def test_a_server_that_asks_a_client_certificate_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: None
) -> None:
    # Trusted and for this name: it refuses us. Before, "is InfluxDB running?" (the sink),
    # "is the database running?" (doctor), OpenSSL's name for the alert alone (report).
    tls = make_tls_material(tmp_path / "server")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    with asks_client_certificate(tls) as port:
        lines = await three_lines(port)
    why = (
        "the InfluxDB server (or a proxy in front of it) asks for a client certificate, and "
        "monitord's HTTPS clients have none to give (TLS alert: certificate required)"
    )
    fix = (
        "let the server at influx.url take this machine's connections without a client certificate"
    )
    url = f"https://localhost:{port}"
    assert lines == (
        f"TLS with {url} failed: {why} ({fix})",
        f"FAIL  influx v1: {url}: TLS failed: {why} -> fix: {fix}",
        f"cannot query {url}: {why}; {fix}",
    )
