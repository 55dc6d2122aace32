"""A wallboard that reads nothing of its stream any more, its connection still up (a TV
asleep whose network stays on: its TCP window full, the station's write waits for ever),
is cut off by the station once it falls behind (docs/station.md "Stale"), not only taken
off the updates. Before, its stream ended only when the browser read again: until then
the connection held its descriptor, a slot of the connection caps and the stream's
handler, for days. Real station, real mosquitto; the TV is a socket that does not read,
and whether the station cut it is read from the kernel (TCP_INFO's state), not its data.
Also over TLS, as the shipped config serves (docs/install.md): there the connection the
station holds is TLS's transport over the socket, and the cut must reach that socket."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import aiohttp
import pytest

from tests.kit import eventually
from tests.servers import Mosquitto, TlsMaterial
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    mqtt_login,
    station_config,
    station_in_process,
)

PAD = "x" * 4000  # each update ~8 kB on the stream: the socket buffers fill soon
UPDATES = 2000  # beyond what the socket buffers hold plus the station's 1000 queued
TCP_ESTABLISHED = 1


def tcp_state(s: socket.socket) -> int:
    """The kernel's state of the connection (linux/tcp.h: tcpi_state, the first byte)."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_a_stream_nobody_reads_is_cut_once_behind(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, tls_material: TlsMaterial, tls: bool
) -> None:
    m = tls_material
    extra = f'tls_cert_file = "{m.server_cert}"\ntls_key_file = "{m.server_key}"' if tls else ""
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=extra)
    ctx = ssl.create_default_context(cafile=str(m.ca_file)) if tls else None
    async with (
        mqtt_login(mosquitto) as c,
        station_in_process(cfg) as (st, url),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        await eventually(lambda: st.bridge.connected, 20, "station on the broker")
        r = await http.post(f"{url}/api/login", json={"name": "alice", "pin": NURSES["alice"]},
                            headers={"Origin": url}, ssl=ctx or True)  # fmt: skip
        assert r.status == 200
        token = r.cookies["monitord_station"].value
        host, port = url.split("://")[1].split(":")
        tv = socket.socket()
        tv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        tv.connect((host, int(port)))
        if ctx is not None:  # the handshake in a thread: the station runs on this loop
            tv = await asyncio.to_thread(ctx.wrap_socket, tv, server_hostname=host)
        get = f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        get += f"Cookie: monitord_station={token}\r\n\r\n"
        await asyncio.to_thread(tv.sendall, get.encode())
        try:
            await eventually(lambda: len(st._clients) == 1, 10, "the TV's stream open")
            pub = ChairPublisher(c, mqtt_prefix)
            await pub.status("chair-1", "online")
            for seq in range(UPDATES):
                body = {"kind": "hr", "hr_bpm": 70, "valid": True, "seq": seq, "pad": PAD}
                await c.publish(pub.topic("chair-1", "vitals/hr"), json.dumps(body), 0, False)
            await eventually(lambda: not st._clients, 30, "the TV dropped from the updates")
            # Dropped: its connection is cut, though it never reads again.
            await eventually(lambda: tcp_state(tv) != TCP_ESTABLISHED, 10, "the TV cut off")
        finally:
            tv.close()
