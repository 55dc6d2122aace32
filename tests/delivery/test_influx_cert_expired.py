"""InfluxDB over HTTPS on the day its certificate expires (made on install day with the
broker's, docs/install.md "Renewal"). A real `monitord run` (v1 and v2) trusting the test
CA (SSL_CERT_FILE), a real TLS server whose certificate expired an hour ago. Before, the
journal said "cannot connect to https://...: ... certificate has expired (is InfluxDB running
and influx.url right?)", sending the IT admin to a server that was running. Now it says to
renew the server's certificate, or fix a clock that is ahead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest

from tests.delivery.test_influx_boot_clock import API, WARNED, CaDaemon
from tests.e2e.e2e_kit import Oximeter, write_config
from tests.kit import eventually
from tests.servers import make_tls_material


async def expired_line(
    tmp_path: Path,
    api: str,
    server_until: dt.datetime | None = None,
    ca_until: dt.datetime | None = None,
) -> str:
    """The journal's first sink failure of a real `monitord run` whose InfluxDB's TLS
    material is made with these ends (make_tls_material's), its CA trusted (SSL_CERT_FILE)."""
    tls = make_tls_material(tmp_path / "tls", server_until=server_until, ca_until=ca_until)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.server_cert, tls.server_key)

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()  # nothing past the handshake is needed

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    async with server, Oximeter(tmp_path) as ox:
        influx = (
            f'\n[influx]\nurl = "https://localhost:{port}"\n{API[api]}'
            "flush_interval_s = 0.2\ntimeout_s = 2.0\n"
        )
        daemon = CaDaemon(
            write_config(tmp_path, influx=influx), tmp_path / "daemon.log", tls.ca_file
        )
        daemon.start()
        stop = asyncio.Event()
        feed = asyncio.create_task(ox.stream(dt.datetime.now(dt.UTC), stop))
        try:
            await eventually(lambda: WARNED in daemon.log.read_text(errors="replace"), 30, "failed")
        finally:
            stop.set()
            await feed
            daemon.stop()
    text = daemon.log.read_text(errors="replace")
    return next(ln for ln in text.splitlines() if WARNED in ln)


@pytest.mark.parametrize("api", sorted(API))
async def test_an_expired_influx_certificate_says_renew_it(tmp_path: Path, api: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    line = await expired_line(tmp_path, api, server_until=past)
    assert "certificate has expired" in line, line
    assert "renew the InfluxDB server's certificate" in line, line
    assert "is InfluxDB running" not in line, line


async def test_an_expired_ca_says_make_a_new_ca(tmp_path: Path) -> None:
    # The server's certificate valid, its CA expired (OpenSSL's "certificate has expired"
    # of either). Before, "renew the InfluxDB server's certificate": reissued from that
    # CA, refused the same (tlsrefused.ca_expired).
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    line = await expired_line(tmp_path, "v1", ca_until=past)
    assert "but the CA that signed it has expired on this machine's clock" in line, line
    assert "monitord test CA (expired " in line, line
    assert "(make a new CA and reissue the InfluxDB server's certificate from it" in line, line
    assert "renew the InfluxDB server's certificate" not in line, line


async def test_an_expired_certificate_from_an_expired_ca_says_make_a_new_ca(
    tmp_path: Path,
) -> None:
    # Both expired: the journal's line as the daemon says it (the sink's second handshake
    # in a real `monitord run`). Before, "renew the InfluxDB server's certificate": renewed
    # from the same CA (make-certs.sh reuses it), refused the same.
    now = dt.datetime.now(dt.UTC)
    line = await expired_line(
        tmp_path,
        "v1",
        server_until=now - dt.timedelta(hours=2),
        ca_until=now - dt.timedelta(hours=1),
    )
    assert "and so did the CA that signed it: monitord test CA (expired " in line, line
    assert "(make a new CA and reissue the InfluxDB server's certificate from it" in line, line
    assert "renew the InfluxDB server's certificate" not in line, line
