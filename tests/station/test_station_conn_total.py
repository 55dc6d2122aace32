"""Many hosts of the LAN opening connections must not use up the station's descriptors
either: past admit.TOTAL connections in all, a new one is answered 503 with the reason
and closed, and a slot freed is taken again (docs/station.md "Security"). Against the
real `monitord station` and mosquitto; the hosts are 127.0.0.2 .. 127.0.0.9 (32 each, the
per-address cap), the one refused 127.0.0.10."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from monitord.station.admit import PER_CLIENT, TOTAL
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import station_config, station_process


async def ask(host: str, port: int, source: str) -> bytes:
    """GET /api/me from `source`: the whole answer (its Content-Length)."""
    loop = asyncio.get_running_loop()
    with socket.socket() as s:
        s.setblocking(False)
        s.bind((source, 0))
        await loop.sock_connect(s, (host, port))
        await loop.sock_sendall(s, f"GET /api/me HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        got = b""
        while not complete(got):
            chunk = await asyncio.wait_for(loop.sock_recv(s, 4096), 10)
            if not chunk:
                break
            got += chunk
        return got


def complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    lengths = [ln for ln in head.lower().split(b"\r\n") if ln.startswith(b"content-length:")]
    return bool(sep and lengths) and len(body) >= int(lengths[0].split(b":")[1])


async def test_connections_past_the_total_cap_are_refused_with_503(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    flood: list[socket.socket] = []
    async with station_process(cfg, tmp_path / "station.log") as (station, url):
        host, port = url.removeprefix("http://").split(":")
        try:
            for n in range(TOTAL // PER_CLIENT):  # idle connections, each host at its cap
                for _ in range(PER_CLIENT):
                    s = socket.socket()
                    s.setblocking(False)
                    s.bind((f"127.0.0.{n + 2}", 0))
                    s.connect_ex((host, int(port)))
                    flood.append(s)
                await asyncio.sleep(0.05)  # within the listen backlog: all are accepted
            await asyncio.sleep(0.5)
            refused = await ask(host, int(port), "127.0.0.10")
            assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
            assert b"station busy: 256 connections are open" in refused, refused
            await eventually(lambda: "refusing new ones with 503" in station.output(), 5, "logged")

            flood.pop().close()  # a slot freed: the next connection is served
            for _ in range(50):
                answer = await ask(host, int(port), "127.0.0.10")
                if not answer.startswith(b"HTTP/1.1 503 "):
                    break
                await asyncio.sleep(0.1)
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        finally:
            for s in flood:
                s.close()
