"""What answers a write at influx.url with a web page, not InfluxDB's JSON: a reverse
proxy's "502 Bad Gateway" while InfluxDB is down, or its "404 Not Found" for a path it
does not forward (docs/operations.md, the `influx` connection).

Before, the sink took the page's first 500 characters as the server's reason: markup and
carriage returns in the journal at the first failure and in `monitord status` as the last
error at every retry, and a 404 page was told as "create the database/bucket", when no
database was missing. Now the reason is the page's title, "(a web page)", and a 404 page
is what answers at influx.url not being InfluxDB. Against a real aiohttp server answering
as nginx does (its stock error pages, CRLF line ends, padding a browser needs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from helpers import answering, influx_sink_on

from monitord.commands.doctor_influx import _influx_sync
from monitord.config import InfluxConfig
from monitord.sinks.influx import InfluxSink
from tests.kit import eventually


def nginx_page(status: str) -> str:
    """nginx's stock error page (ngx_http_special_response.c), with the comment padding
    it adds for old browsers: about 2 KB."""
    lines = [
        "<html>",
        f"<head><title>{status}</title></head>",
        "<body>",
        f"<center><h1>{status}</h1></center>",
        "<hr><center>nginx/1.24.0</center>",
        "</body>",
        "</html>",
        *["<!-- a padding to disable MSIE and Chrome friendly error page -->"] * 6,
    ]
    return "\r\n".join(lines) + "\r\n" + " " * 1500


@contextlib.asynccontextmanager
async def proxy(status: int, title: str, ping_ok: bool = False) -> AsyncIterator[str]:
    """Every path answered with nginx's page for `status`; `ping_ok`: /ping forwarded to an
    InfluxDB that answers it (204), the writes not."""

    async def handle(request: web.Request) -> web.Response:
        if ping_ok and request.path == "/ping":
            return web.Response(status=204)
        return web.Response(status=status, text=nginx_page(title), content_type="text/html")

    async with answering(handle) as url:
        yield url


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize(
    ("status", "title", "advice"),
    [
        (502, "502 Bad Gateway", "server-side error"),
        (404, "404 Not Found", "not as InfluxDB"),
    ],
)
async def test_a_proxys_error_page_is_told_by_its_title(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
    status: int,
    title: str,
    advice: str,
) -> None:
    monkeypatch.setenv("MONITORD_INFLUX_TOKEN", "t0ken")
    caplog.set_level(logging.DEBUG, logger="monitord.sinks.influx")
    async with proxy(status, title) as url:
        where = {"database": "vitals"} if api == "v1" else {"bucket": "vitals", "org": "clinic"}
        cfg = InfluxConfig.model_validate(
            {"url": url, "api": api, "flush_interval_s": 0.05, "timeout_s": 2.0, **where}
        )
        async with influx_sink_on(cfg, tmp_path, backoff_cap_s=0.1) as (sink, outbox):
            await eventually(lambda: sink.stats.retries >= 3, 20, "retried")
            assert outbox.backlog("influx") == 3  # nothing taken as delivered
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1, [r.getMessage() for r in said]  # once; repeats at DEBUG
    line = said[0].getMessage()
    error = str(sink.stats.last_error)
    for text in (line, error):
        assert f"HTTP {status}: {title} (a web page)" in text, text
        assert "<" not in text and "\r" not in text and "\n" not in text, text
        assert len(text) < 400, text
    assert advice in line, line
    assert "create the database" not in line, line


@pytest.mark.parametrize(
    ("status", "title", "ping_ok", "said", "advice"),
    [
        (502, "502 Bad Gateway", False, "/ping answered HTTP 502", "see the database's log"),
        (404, "404 Not Found", True, "HTTP 404", "not as InfluxDB"),
    ],
)
async def test_doctor_names_a_proxys_page_by_its_title(
    status: int, title: str, ping_ok: bool, said: str, advice: str
) -> None:
    # `monitord doctor`'s influx line printed the page's first 2,000 characters, its line
    # breaks and all, and a write answered by a proxy's 404 page said `CREATE DATABASE`.
    async with proxy(status, title, ping_ok=ping_ok) as url:
        cfg = InfluxConfig(url=url, api="v1", database="vitals", timeout_s=2.0)
        check = await asyncio.to_thread(_influx_sync, cfg, None, 3.0)
    line = check.line()
    assert check.status == "FAIL", line
    assert said in line and f"{title} (a web page)" in line, line
    assert "<" not in line and "\n" not in line and "\r" not in line, line
    assert advice in line and "CREATE DATABASE" not in line, line


# Found by hand reading every json.loads on outside bytes after the fuzz round,
# 2026-12-05: the reason of an error answer was json.loads'ed unbounded, so a body nested
# thousands deep (a broken server's or proxy's) raised RecursionError: the sink crashed
# and was restarted at each retry (an ERROR traceback each time), and doctor's traceback.
DEEP_BODY = '{"error": ' + "[" * 5000 + "]" * 5000 + "}"


@contextlib.asynccontextmanager
async def deep_answer() -> AsyncIterator[str]:
    """Every path answered 503 with a JSON body nested 5,000 deep."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=503, text=DEEP_BODY, content_type="application/json")

    async with answering(handle) as url:
        yield url


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_a_deeply_nested_error_answer_is_retried_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv("MONITORD_INFLUX_TOKEN", "t0ken")
    where = {"database": "vitals"} if api == "v1" else {"bucket": "vitals", "org": "clinic"}
    async with deep_answer() as url:
        cfg = InfluxConfig.model_validate(
            {"url": url, "api": api, "flush_interval_s": 0.05, **where}
        )
        async with influx_sink_on(cfg, tmp_path, backoff_cap_s=0.1) as (sink, outbox):
            await eventually(lambda: sink.stats.retries >= 3, 20, "retried")
            assert outbox.backlog("influx") == 3
        assert "HTTP 503" in str(sink.stats.last_error)
        check = await asyncio.to_thread(
            _influx_sync, InfluxConfig(url=url, api="v1", database="vitals"), None, 3.0
        )
    assert check.status == "FAIL" and "503" in check.line(), check.line()


# Found in the adversarial round of 2026-12-05 (advinflux44): a 400 is InfluxDB refusing a
# point for good, so the sink bisected the batch and quarantined every row alone. But a
# proxy's 400 page is no refusal of a point: nginx answers every request with one when
# influx.url says http:// for its HTTPS port. Every reading and alert event was
# quarantined, never to be sent once influx.url was fixed, and the link never went down.
async def rows_kept(tmp_path: Path, url: str, api: str, where: dict[str, str]) -> InfluxSink:
    """The sink's three rows against a server that refuses every request (not a point):
    tried again and again, kept (none quarantined), the link DOWN. The sink, for its
    words."""
    cfg = InfluxConfig.model_validate(
        {"url": url, "api": api, "flush_interval_s": 0.05, "timeout_s": 2.0, **where}
    )
    async with influx_sink_on(cfg, tmp_path, backoff_cap_s=0.1) as (sink, outbox):
        await eventually(
            lambda: sink.stats.retries >= 2 or outbox.backlog("influx") == 0, 20, "tried"
        )
        assert outbox.quarantined("influx") == []
        assert outbox.backlog("influx") == 3  # kept for when influx.url is fixed
        assert sink.link.state == "down"
    kept: InfluxSink = sink  # (influx_sink_on is untyped)
    return kept


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_a_proxys_400_page_is_retried_not_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv("MONITORD_INFLUX_TOKEN", "t0ken")
    where = {"database": "vitals"} if api == "v1" else {"bucket": "vitals", "org": "clinic"}
    async with proxy(400, "400 The plain HTTP request was sent to HTTPS port") as url:
        sink = await rows_kept(tmp_path, url, api, where)
    assert "not as InfluxDB" in str(sink.link.last_error), sink.link.last_error
