"""One host of the LAN opening a thousand idle connections to the station must not lock
the nurses out: under systemd the station has 1024 file descriptors (the default soft
limit, which its unit keeps), and a connection that never sends a request is kept for
KEEPALIVE_S (10 s; aiohttp's default is an hour): a host opens a thousand well within
that. Against the real `monitord station` with that limit, and mosquitto; the flooding
host is 127.0.0.2, the nurse 127.0.0.1 (monitord/station/admit.py)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_process

SYSTEMD_NOFILE = 1024  # systemd's DefaultLimitNOFILE soft limit


@contextlib.contextmanager
def nofile(soft: int) -> Iterator[None]:
    """Children started inside get `soft` as their open-file limit, as under systemd."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


async def test_idle_connections_of_one_host_do_not_lock_the_nurses_out(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    flood: list[socket.socket] = []
    with nofile(SYSTEMD_NOFILE):
        served = station_process(cfg, tmp_path / "station.log")
        station, url = await served.__aenter__()
    try:
        host, port = url.removeprefix("http://").split(":")
        for i in range(SYSTEMD_NOFILE + 100):  # connections that never send a request
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))
            s.connect_ex((host, int(port)))
            flood.append(s)
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # within the listen backlog: all are accepted
        await asyncio.sleep(1)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                r = await http.post(f"{url}/api/login", json={"name": "bob", "pin": NURSES["bob"]},
                                    headers={"Origin": url})  # fmt: skip
            except TimeoutError:
                raise AssertionError(
                    f"a nurse cannot log in while one host holds idle connections:\n"
                    f"{station.output()[-1500:]}"
                ) from None
            assert r.status == 200, await r.text()
    finally:
        for s in flood:
            s.close()
        await served.__aexit__(None, None, None)
