"""InfluxDB over HTTPS from a Pi booted with its clock behind the server's certificate
(fake-hwclock's saved time, before NTP; docs/operations.md, "`monitord status`").

A real `monitord run` (influx `api = "v1"`, https) whose CA bundle is the test CA
(SSL_CERT_FILE, as a clinic installs its CA in the system store), a real TLS server with a
certificate valid from an hour ahead (real OpenSSL handshakes; nothing past the handshake
is needed), a Masimo oximeter on a pty feeding readings. Before, the journal said "cannot
connect to https://...: ... certificate is not yet valid ... (is InfluxDB running and
influx.url right?)". Now it names the clock and the fix (wait for time sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.e2e_kit import DaemonProcess, Oximeter, write_config
from tests.kit import eventually
from tests.servers import TlsMaterial, make_tls_material

WARNED = "WARNING monitord.sinks.influx"  # the sink's first failure, said once
# The fix names the InfluxDB server, not the broker (until 2026-12-05 "not the broker's own").
OWN = "or not the InfluxDB server's own: see its dates with `openssl s_client`)"


class CaDaemon(DaemonProcess):
    def __init__(self, cfg: Path, log: Path, ca: Path) -> None:
        super().__init__(cfg, log)
        self.ca = ca

    def env(self) -> dict[str, str] | None:
        return {**os.environ, "SSL_CERT_FILE": str(self.ca)}


@contextlib.asynccontextmanager
async def server_ahead(
    tmp: Path, *, ca: bool = False
) -> AsyncIterator[tuple[int, TlsMaterial, dt.datetime]]:
    """A TLS server on 127.0.0.1 whose certificate is valid from an hour ahead (with `ca`:
    valid from yesterday, signed by a CA valid from an hour ahead), for a client whose
    clock is behind it (nothing past the handshake is needed: it closes each connection):
    (its port, its TLS material, the time ahead: the certificate's or the CA's notBefore)."""
    ahead = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    tls = make_tls_material(
        tmp / "tls", server_from=None if ca else ahead, ca_from=ahead if ca else None
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls.server_cert, tls.server_key)

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    async with server:
        yield server.sockets[0].getsockname()[1], tls, ahead


# v2 goes through the influxdb-client library's own aiohttp session: the same line.
API = {
    "v1": 'api = "v1"\ndatabase = "monitord"\n',
    "v2": 'api = "v2"\norg = "clinic"\nbucket = "monitord"\n',
}


async def doctor_influx(tmp: Path, port: int, tls: TlsMaterial, api: str, **extra: str) -> str:
    """`monitord doctor`'s influx line for the InfluxDB server on `port` (`api`: an API
    body), its CA trusted as a system store's (SSL_CERT_FILE), `extra` in its environment."""
    influx = f'\n[influx]\nurl = "https://localhost:{port}"\n{api}'
    cfg = write_config(tmp, influx=influx)
    env = {**os.environ, "SSL_CERT_FILE": str(tls.ca_file), **extra}
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitord", "doctor", "-c", str(cfg), "--timeout", "3",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(p.communicate(), 60)
    line = next(ln for ln in out.decode().splitlines() if ln.split()[1:2] == ["influx"])
    print(line)
    return line


@pytest.mark.parametrize("api", sorted(API))
async def test_https_influx_with_the_clock_behind_its_certificate_names_the_clock(
    tmp_path: Path, api: str
) -> None:
    async with server_ahead(tmp_path) as (port, tls, _), Oximeter(tmp_path) as ox:
        influx = (
            f'\n[influx]\nurl = "https://localhost:{port}"\n{API[api]}'
            "flush_interval_s = 0.2\ntimeout_s = 2.0\n"
        )
        cfg = write_config(tmp_path, influx=influx)
        daemon = CaDaemon(cfg, tmp_path / "daemon.log", tls.ca_file)
        daemon.start()
        stop = asyncio.Event()
        feed = asyncio.create_task(ox.stream(dt.datetime.now(dt.UTC), stop))
        try:
            await eventually(lambda: WARNED in _log(daemon), 30, "the failure")
        finally:
            stop.set()
            await feed
            daemon.stop()
    line = next(ln for ln in _log(daemon).splitlines() if WARNED in ln)
    assert (
        "TLS with https://" in line
        and "the clock is 20" in line
        and "certificate is not valid yet" in line
    ), line
    assert "wait for time sync" in line and "is InfluxDB running" not in line, line
    assert OWN in line and "broker" not in line, line


def _log(daemon: DaemonProcess) -> str:
    return daemon.log.read_text(errors="replace")


@pytest.mark.parametrize("api", sorted(API))
async def test_doctor_names_the_clock_for_https_influx(tmp_path: Path, api: str) -> None:
    """`monitord doctor` on the same Pi: before, "FAIL influx v2: https://...: not
    reachable ([SSL: CERTIFICATE_VERIFY_FAILED] ... certificate is not yet valid) -> fix:
    is the database running (systemctl status influxdb)? check influx.url", sending the
    IT admin to a server that was running."""
    async with server_ahead(tmp_path) as (port, tls, ahead):
        line = await doctor_influx(tmp_path, port, tls, API[api], MONITORD_INFLUX_TOKEN="t")
    assert line.startswith("FAIL") and "the clock is 20" in line, line
    assert "certificate is valid from " + ahead.strftime("%Y-%m-%d %H:%M:%SZ") in line, line
    assert "wait for time sync" in line and "is the database running" not in line, line
