"""InfluxDB's idle probe (`GET /ping`) answered 404: influx.url reaches something that is
not InfluxDB (a reverse proxy whose InfluxDB route went, another web server), and
`monitord status` says so.

Before, any answer below 500 read "connected": a proxy that answers 404 for everything
kept InfluxDB `connected` for as long as the clinic was idle. A real influxd 1.x behind a
real HTTP proxy (aiohttp) that first forwards everything, then loses its route: 404.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from helpers import influx_sink_on, serving

from monitord.config import InfluxConfig
from monitord.sinks import influx
from tests.kit import eventually
from tests.servers import Influxd

HOP = {"host", "content-encoding", "content-length", "transfer-encoding", "connection"}


class Proxy:
    """Forwards every request to `upstream` while `routed`; else answers 404."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.routed = True
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.routed:
            return web.Response(status=404, text="404 page not found")
        async with (
            aiohttp.ClientSession() as s,
            s.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=await request.read(),
                # the body as read here is decompressed: its encoding and length go
                headers={k: v for k, v in request.headers.items() if k.lower() not in HOP},
            ) as r,
        ):
            return web.Response(status=r.status, body=await r.read())


async def test_a_probe_answered_404_is_down_and_names_the_url(
    influxd: Influxd, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(influx, "PROBE_IDLE_S", 0.3)
    proxy = Proxy(influxd.url)
    async with serving(proxy):
        cfg = InfluxConfig(
            url=proxy.url, api="v1", database=influx_db, flush_interval_s=0.05, timeout_s=2.0
        )
        async with influx_sink_on(cfg, tmp_path) as (sink, outbox):
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "written via the proxy")
            assert sink.link.state == "connected"
            proxy.routed = False  # the proxy's InfluxDB route is gone: 404 for everything
            await eventually(lambda: sink.link.state == "down", 20, "status: InfluxDB down")
            error = str(sink.link.as_dict()["last_error"])
            assert error.startswith("GET /ping: HTTP 404"), error
            assert "not as InfluxDB" in error and "check influx.url" in error, error
            proxy.routed = True  # routed again: the next probe reads it connected
            await eventually(lambda: sink.link.state == "connected", 20, "connected again")
