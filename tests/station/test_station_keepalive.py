"""An idle connection (kept alive after its request, or one that never sends a request)
is closed by the station after its keep-alive time (KEEPALIVE_S, 10 s, in `monitord
station`), not after aiohttp's hour: it holds a descriptor and a slot of the connection
caps (admit.py). A wallboard's event stream is one long request and stays open past it.
Against the real station served in this process and mosquitto, with a keep-alive time of
IDLE_S (Station's `keepalive_s`): the time under test is waited out, and 3 s of it are
enough to tell an idle close from a refusal (10 s cost 12 s a run)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from monitord.config import load_config
from monitord.station.server import HEARTBEAT_S, KEEPALIVE_S, Station
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process

IDLE_S = 3.0


async def closed_after(s: socket.socket, within_s: float) -> float:
    """Seconds until the server closes `s` (its answers read and dropped)."""
    loop, t0 = asyncio.get_running_loop(), time.monotonic()
    try:
        while await asyncio.wait_for(loop.sock_recv(s, 4096), within_s):
            pass
    except TimeoutError:
        raise AssertionError(f"an idle connection still open after {within_s} s") from None
    return time.monotonic() - t0


async def test_idle_connections_close_and_event_streams_stay(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    # `monitord station` (cli.py) makes its Station with the default: KEEPALIVE_S.
    assert Station(load_config(cfg)).keepalive_s == KEEPALIVE_S
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        station_in_process(cfg, keepalive_s=IDLE_S) as (_, url),
        aiohttp.ClientSession(cookie_jar=jar) as http,
    ):
        host, port = url.removeprefix("http://").split(":")
        r = await http.post(f"{url}/api/login", json={"name": "alice", "pin": NURSES["alice"]},
                            headers={"Origin": url})  # fmt: skip
        assert r.status == 200
        async with http.get(f"{url}/api/events") as stream:
            opened = time.time()
            kept, silent = socket.socket(), socket.socket()
            with kept, silent:
                for s in (kept, silent):
                    s.setblocking(False)
                    await asyncio.get_running_loop().sock_connect(s, (host, int(port)))
                # One request, answered, the connection kept alive; one never sends any.
                kept.send(f"GET /api/me HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                waits = await asyncio.gather(
                    closed_after(kept, IDLE_S + 5), closed_after(silent, IDLE_S + 5)
                )
                assert all(w >= IDLE_S - 1 for w in waits), waits  # idle, not refused
            # The stream, open all along, brings a heartbeat sent after IDLE_S.
            sent = 0.0
            while sent <= opened + IDLE_S:
                line = await asyncio.wait_for(stream.content.readline(), 2 * HEARTBEAT_S)
                assert line, "the event stream was closed as idle"
                if line.startswith(b'data: {"time": '):  # a ping's
                    sent = datetime.fromisoformat(json.loads(line[6:])["time"]).timestamp()
