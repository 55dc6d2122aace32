"""A station behind a TCP proxy of a test's own on loopback (a network fault played between
the browser and the station), and a browser: what the tests of a stalled stream, a sleeping
PC and an unanswered login check start from."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from tests.servers import Mosquitto, free_port
from tests.station.cdp import Browser, browser
from tests.station.station_kit import station_config, station_process


class StationProxy:
    """A TCP proxy on a free loopback port to the station's `target_port`; a subclass
    forwards (or does not) each connection in `_conn`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        srv = await asyncio.start_server(self._conn, "127.0.0.1", self.port)
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            srv.close()


P = TypeVar("P", bound=StationProxy)


@contextlib.asynccontextmanager
async def proxied_station(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, proxy: Callable[[int], P]
) -> AsyncIterator[tuple[P, str, Browser]]:
    """A station behind `proxy(its port)` and a browser: (the proxy, its URL, the browser)."""
    port = free_port()
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=prefix, port=port)
    px = proxy(port)
    async with (
        station_process(cfg, tmp_path / "station.log"),
        px.serving() as url,
        browser() as b,
    ):
        yield px, url, b
