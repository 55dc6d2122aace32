"""`GET /ping` answered by what is not InfluxDB, and `monitord doctor` judging the answer
as the daemon's idle probe does (docs/operations.md, the `influx` connection).

A real influxd 1.x behind a real HTTP proxy (aiohttp) that either forwards everything,
sends everything to its login page (a 302, then a 200 HTML page: what a proxy whose
session expired, or a captive portal, answers), or forwards only requests that carry its
Basic login (nginx `auth_basic` in front of InfluxDB: /ping without a login is a 401).

Before: the probe followed the redirect and read the login page's 200 as "InfluxDB up",
and so did `monitord doctor` (its write of nothing, redirected too, read "writable");
and `monitord doctor` failed a 401 on /ping ("is influx.url an InfluxDB?") that the
daemon rightly reads as up, its writes (with the login) going through.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from helpers import influx_sink_on, serving

from monitord.commands.doctor_influx import _influx_sync
from monitord.config import InfluxConfig
from monitord.sinks import influx
from monitord.sinks.influx_http import ping
from tests.kit import eventually
from tests.servers import Influxd, VictoriaMetrics

HOP = {"host", "content-encoding", "content-length", "transfer-encoding", "connection"}
LOGIN_PAGE = "<!doctype html><html><body><form action=/login>Sign in</form></body></html>"
PASSWORD = "proxy-secret"


class Proxy:
    """`mode`: "forward" (all to `upstream`), "error" (503), "moved" (a redirect to
    `upstream`), "login" (all to its /login page), or "basic" (forwards only what carries
    writer:PASSWORD as Basic auth; else 401)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "forward"
        self.url = ""
        self.pings = 0  # GET /ping asked of it

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.pings += request.path == "/ping"
        if self.mode == "error":  # InfluxDB's own trouble, not another server
            return web.Response(status=503, text="upstream unavailable")
        if self.mode == "moved":  # to InfluxDB itself (as http to https): followed, fine
            raise web.HTTPTemporaryRedirect(f"{self.upstream}{request.path_qs}")
        if self.mode == "login":
            if request.path == "/login":
                return web.Response(text=LOGIN_PAGE, content_type="text/html")
            raise web.HTTPFound("/login")
        if self.mode == "basic":
            wanted = "Basic " + base64.b64encode(f"writer:{PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != wanted:
                return web.Response(
                    status=401,
                    text="401 Authorization Required",
                    headers={"WWW-Authenticate": "Basic"},
                )
        async with (
            aiohttp.ClientSession() as s,
            s.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=await request.read(),
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() not in HOP and k.lower() != "authorization"
                },
            ) as r,
        ):
            return web.Response(status=r.status, body=await r.read())


async def test_a_redirect_to_a_login_page_is_not_influxdb(
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
            check = await asyncio.to_thread(_influx_sync, cfg, None, 3.0)
            assert check.status == "ok", check.line()  # doctor agrees while it is InfluxDB
            proxy.mode = "login"  # every path now goes to the proxy's login page
            await eventually(lambda: sink.link.state == "down", 20, "status: InfluxDB down")
            error = str(sink.link.as_dict()["last_error"])
            assert error.startswith("GET /ping: HTTP 200"), error
            assert f"redirected to {proxy.url}/login" in error, error
            assert "not as InfluxDB" in error and "check influx.url" in error, error
            # `monitord doctor` says the same, not "writable"
            check = await asyncio.to_thread(_influx_sync, cfg, None, 3.0)
            assert check.status == "FAIL", check.line()
            assert f"redirected to {proxy.url}/login" in check.line(), check.line()
            assert "not as InfluxDB" in check.line(), check.line()
            proxy.mode = "error"  # a 503: doctor says a server error, as the daemon does
            check = await asyncio.to_thread(_influx_sync, cfg, None, 3.0)
            assert check.status == "FAIL", check.line()
            assert "HTTP 503" in check.line() and "see the database's log" in check.line()
            proxy.mode = "moved"  # a redirect to InfluxDB: its 204 is InfluxDB's
            await ping(cfg)
            await eventually(lambda: sink.link.state == "connected", 20, "connected again")


async def test_doctor_takes_a_login_wanted_for_ping_as_the_daemon_does(
    influxd: Influxd, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITORD_INFLUX_PASSWORD", raising=False)
    monkeypatch.setattr(influx, "PROBE_IDLE_S", 0.3)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "influx-password").write_text(PASSWORD + "\n")
    proxy = Proxy(influxd.url)
    proxy.mode = "basic"
    async with serving(proxy):
        cfg = InfluxConfig(
            url=proxy.url,
            api="v1",
            database=influx_db,
            username="writer",
            password_file=creds / "influx-password",
            flush_interval_s=0.05,
            timeout_s=2.0,
        )
        async with influx_sink_on(cfg, tmp_path) as (sink, outbox):
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "written with the login")
            asked = proxy.pings
            await eventually(lambda: proxy.pings > asked + 1, 20, "idle: probed (a 401)")
            assert sink.link.state == "connected", sink.link.as_dict()
            check = await asyncio.to_thread(_influx_sync, cfg, creds, 3.0)
            assert check.status == "ok", check.line()
            assert "writable as writer" in check.line(), check.line()


async def test_a_write_redirected_to_a_login_page_is_not_delivered(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    # The proxy's login page answers the redirected write (aiohttp follows a 302 for a
    # POST as a GET) with 200: before, a 2xx was a write InfluxDB took, so the rows were
    # marked delivered and never reached it (the clinic's history without them, and
    # `monitord status` "connected"). Now they wait in the outbox, the link DOWN naming
    # the redirect, and go once the proxy forwards again.
    proxy = Proxy(influxd.url)
    proxy.mode = "login"
    async with serving(proxy):
        cfg = InfluxConfig(
            url=proxy.url, api="v1", database=influx_db, flush_interval_s=0.05, timeout_s=2.0
        )
        async with influx_sink_on(cfg, tmp_path) as (sink, outbox):
            await eventually(lambda: sink.link.state != "untried", 20, "a write answered")
            assert sink.link.state == "down", sink.link.as_dict()
            error = str(sink.link.as_dict()["last_error"])
            assert f"(a web page), redirected to {proxy.url}/login" in error, error
            assert "not as InfluxDB" in error and "check influx.url" in error, error
            assert outbox.backlog("influx") == 3
            proxy.mode = "forward"
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "written via the proxy")
            assert sink.link.as_dict()["state"] == "connected"
    assert len(influxd.rows("SELECT * FROM vitals", influx_db)) == 3


async def test_a_v2_write_redirected_to_a_login_page_is_not_delivered(
    victoria_metrics: VictoriaMetrics, vm_site: str, tmp_path: Path
) -> None:
    # The same through `api = "v2"` (influxdb-client, VictoriaMetrics behind the proxy):
    # the client follows the redirect too and answers False for a 2xx other than 201/204,
    # which the sink did not read, so the login page's 200 was a batch delivered.
    proxy = Proxy(victoria_metrics.url)
    proxy.mode = "login"
    async with serving(proxy):
        cfg = InfluxConfig(
            url=proxy.url, api="v2", org="clinic", bucket="monitord", flush_interval_s=0.05
        )
        async with influx_sink_on(cfg, tmp_path, vm_site) as (sink, outbox):
            await eventually(lambda: sink.link.state != "untried", 20, "a write answered")
            assert sink.link.state == "down", sink.link.as_dict()
            error = str(sink.link.as_dict()["last_error"])
            assert "not as InfluxDB" in error and "check influx.url" in error, error
            assert outbox.backlog("influx") == 3
            proxy.mode = "forward"
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "written via the proxy")
            assert sink.link.as_dict()["state"] == "connected"
    match = f'{{__name__="vitals_valid",site="{vm_site}"}}'
    assert await asyncio.to_thread(victoria_metrics.wait_samples, match, 3) == 3
