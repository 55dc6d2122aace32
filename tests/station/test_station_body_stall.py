"""A request whose body never comes (a tablet off the Wi-Fi mid-POST with its connection
left half-open, a client that sends the headers of a login and then nothing) is closed by
the station after its keep-alive time, as an idle connection is (test_station_keepalive.py):
before, the body was waited for without end, and the connection held a descriptor and a
slot of the connection caps (admit.py) until the client's TCP went away, hours for a
half-open one and never for a live client. Against the real station served in this process
and mosquitto, with a keep-alive time of IDLE_S, waited out (as test_station_keepalive.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from tests.servers import Mosquitto
from tests.station.station_kit import station_config, station_in_process
from tests.station.test_station_keepalive import IDLE_S


async def answer_then_closed(s: socket.socket, within_s: float) -> tuple[bytes, float]:
    """What the station sent on `s` and the seconds until it closed `s`."""
    loop, t0, got = asyncio.get_running_loop(), time.monotonic(), b""
    try:
        while chunk := await asyncio.wait_for(loop.sock_recv(s, 4096), within_s):
            got += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {within_s} s, sent {got!r}") from None
    return got, time.monotonic() - t0


async def test_a_request_whose_body_never_comes_is_closed(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    async with station_in_process(cfg, keepalive_s=IDLE_S) as (_, url):
        host, port = url.removeprefix("http://").split(":")
        # The login: read by anyone who can reach the port (every POST reads its body alike).
        for path in ("/api/login",):
            s = socket.socket()
            with s:
                s.setblocking(False)
                await asyncio.get_running_loop().sock_connect(s, (host, int(port)))
                # The headers and the first byte of a 40-byte body, then nothing.
                s.send(
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: {url}\r\n"
                    "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{".encode()
                )
                # Its 408 written, the rest of the body is waited for as long again (lingering).
                got, waited = await answer_then_closed(s, 2 * IDLE_S + 5)
                assert got.startswith(b"HTTP/1.1 408 "), (path, got)
                assert waited >= IDLE_S - 1, (path, waited)  # waited for, not refused
