"""An event stream's handler must let a cancellation through (Python's rule, and aiohttp's:
the station stopping cancels the handlers still running and expects them cancelled),
while a page that closes ends its stream cleanly: aiohttp does not cancel a handler when
its client goes (handler_cancellation is off), the next ping's write fails. Against the
real station served in this process (to reach its handlers' tasks) and mosquitto."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from types import CodeType

import aiohttp
import pytest

from monitord.station.server import HEARTBEAT_S, Station
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process


def handler_tasks(code: CodeType) -> list[asyncio.Task[object]]:
    """The tasks whose chain of awaits is in a coroutine of `code` now."""
    found = []
    for t in asyncio.all_tasks():
        c: object = t.get_coro()
        while c is not None:
            if getattr(c, "cr_code", None) is code:
                found.append(t)
                break
            c = getattr(c, "cr_await", None)
    return found


async def open_stream(
    http: aiohttp.ClientSession, url: str
) -> tuple[aiohttp.ClientResponse, asyncio.Task[object]]:
    """An event stream read up to its hello, and the station's task serving it."""
    before = set(handler_tasks(Station.events.__code__))
    resp = await http.get(f"{url}/api/events")
    assert resp.status == 200
    while not (await resp.content.readline()).startswith(b"event: hello"):
        pass
    (task,) = set(handler_tasks(Station.events.__code__)) - before
    return resp, task


async def test_a_stream_handler_lets_cancellation_through_and_a_closed_page_ends_clean(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # An earlier test's client left for the collector (an unretrieved disconnect of a
    # stopped broker) logs when collected: collected here, outside what is checked.
    gc.collect()
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with station_in_process(cfg) as (st, url):
            r = await http.post(f"{url}/api/login", headers={"Origin": url},
                                json={"name": "alice", "pin": NURSES["alice"]})  # fmt: skip
            assert r.status == 200

            # Cancelled (as aiohttp's shutdown does): the task must end cancelled.
            resp, task = await open_stream(http, url)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            assert task.cancelled(), "the stream's handler swallowed a cancellation"
            assert not st._clients, "a cancelled stream stays among the broadcast's clients"
            resp.close()

            # A page closed: its stream ends at the next ping, without a traceback.
            resp, task = await open_stream(http, url)
            resp.close()
            await eventually(lambda: task.done() and not st._clients, 3 * HEARTBEAT_S, "ended")

            # A stream open when the station stops (at the end of this block), still read.
            resp, stopped = await open_stream(http, url)
        await asyncio.wait({stopped}, timeout=5)  # cancelled by the stop: ends at its next turn
        assert stopped.cancelled(), "the stop's cancellation was swallowed by the stream"
        resp.close()
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not noisy, [r.getMessage() for r in noisy]
