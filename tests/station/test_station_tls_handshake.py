"""A connection to a TLS station that never finishes its handshake is closed after
the station's keep-alive time (KEEPALIVE_S in `monitord station`), like an idle plain one
(test_station_keepalive.py), not after asyncio's default 60 s: until its handshake ends
it is counted by neither connection cap (admit.py sees a connection once TLS has handed
it over), so a host opening such connections held a descriptor for each for a minute.
The real station, served over TLS with the test CA's server certificate, and mosquitto,
with a keep-alive time of IDLE_S (Station's `keepalive_s`, as in the plain test): the time
under test is waited out."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

from tests.servers import Mosquitto, TlsMaterial
from tests.station.station_kit import station_config, station_in_process
from tests.station.test_station_keepalive import IDLE_S, closed_after


async def test_an_unfinished_tls_handshake_is_closed_like_an_idle_connection(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, tls_material: TlsMaterial
) -> None:
    m = tls_material
    tls = f'tls_cert_file = "{m.server_cert}"\ntls_key_file = "{m.server_key}"'
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=tls)
    async with station_in_process(cfg, keepalive_s=IDLE_S) as (_, url):
        assert url.startswith("https://"), url
        host, port = url.removeprefix("https://").split(":")
        loop = asyncio.get_running_loop()
        # The station does speak TLS to a client that finishes the handshake.
        ctx = ssl.create_default_context(cafile=str(tls_material.ca_file))
        _, w = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=host)
        w.close()
        with socket.socket() as s:
            s.setblocking(False)
            await loop.sock_connect(s, (host, int(port)))
            t0 = time.monotonic()
            waited = await closed_after(s, IDLE_S + 5)  # sends nothing: no ClientHello
        assert waited >= IDLE_S - 1, waited  # timed out, not refused
        assert time.monotonic() - t0 < IDLE_S + 5
