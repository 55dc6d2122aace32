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


@pytest.mark.parametrize("api", sorted(API))
async def test_an_expired_influx_certificate_says_renew_it(tmp_path: Path, api: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tls = make_tls_material(tmp_path / "tls", server_until=past)
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
    line = next(ln for ln in text.splitlines() if WARNED in ln)
    assert "certificate has expired" in line, line
    assert "renew the InfluxDB server's certificate" in line, line
    assert "is InfluxDB running" not in line, line
