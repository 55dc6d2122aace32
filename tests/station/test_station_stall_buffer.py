"""The other path of monitord/station/stall.py, with no test of its own: a stream whose
bytes wait in the transport's buffer (the socket buffers between the ends full) but
whose writes never wait for room (a quiet night: a heartbeat, a few updates, under the
buffer's high-water mark). It is cut once that buffer has not shrunk for `stall_s`; a
slow link that pauses and then takes again (a wallboard on bad Wi-Fi) is not.

Real parts: an aiohttp stream on a real TCP socket with small kernel buffers, the client a
raw socket that stops reading and reads again. Time is a clock the test moves (Taken's
`clock`), so nothing here waits a minute or depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from monitord.station.stall import Taken
from tests.kit import eventually

STALL_S = 60.0
CHUNK = b"data: " + b"x" * 1000 + b"\n\n"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def a_stream() -> AsyncIterator[tuple[web.StreamResponse, asyncio.Transport, socket.socket]]:
    """A prepared event stream on a real connection, and the client's socket (reads nothing
    until the test reads)."""
    ready: asyncio.Future[tuple[web.StreamResponse, asyncio.Transport]] = (
        asyncio.get_running_loop().create_future()
    )
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ready.set_result((resp, transport))
        await done.wait()
        return resp

    app = web.Application()
    app.router.add_get("/api/events", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
        client.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        resp, transport = await asyncio.wait_for(ready, 30)
        yield resp, transport, client
    finally:
        done.set()
        client.close()
        await runner.cleanup()


async def fill(taken: Taken, resp: web.StreamResponse, transport: asyncio.Transport) -> None:
    """Write until bytes wait in the transport's buffer (the kernel's full), well under its
    high-water mark so that no write waits for room."""
    for _ in range(2000):
        if transport.get_write_buffer_size() > 4 * len(CHUNK):
            break
        assert await taken.write(resp, CHUNK)
        await asyncio.sleep(0)
    else:
        raise AssertionError("the socket buffers never filled")
    await asyncio.sleep(0.2)  # the kernel's buffers settle (loopback: at once)
    assert await taken.write(resp, CHUNK)  # the buffer as it stays: Taken's `left`


async def test_a_buffer_that_does_not_shrink_for_stall_s_is_cut() -> None:
    clock = Clock()
    async with a_stream() as (resp, transport, _client):
        taken = Taken(transport, STALL_S, clock)
        await fill(taken, resp, transport)
        high = transport.get_write_buffer_size()
        assert 0 < high < transport.get_write_buffer_limits()[1]  # no write waits for room
        clock.t += STALL_S - 1  # a heartbeat before the minute: still written
        assert await taken.write(resp, CHUNK)
        held = transport.get_write_buffer_size()
        assert held > high  # nothing taken: it grew by the heartbeat
        clock.t += 2  # a minute without a byte taken: cut, the heartbeat not written
        assert not await taken.write(resp, CHUNK)
        assert transport.get_write_buffer_size() == held


async def test_a_slow_link_that_pauses_and_takes_again_is_not_cut() -> None:
    clock = Clock()
    async with a_stream() as (resp, transport, client):
        taken = Taken(transport, STALL_S, clock)
        await fill(taken, resp, transport)
        for _ in range(25):  # a backlog the link takes only part of when it comes back
            assert await taken.write(resp, CHUNK)
        clock.t += STALL_S - 1  # a Wi-Fi pause of most of a minute
        assert await taken.write(resp, CHUNK)
        before = transport.get_write_buffer_size()
        # The link comes back: the client takes a little (less than it has been sent).
        loop = asyncio.get_running_loop()
        got = 0
        while got < 8000:
            got += len(await loop.sock_recv(client, 8000 - got))
        await eventually(lambda: transport.get_write_buffer_size() < before, 30, "taken")
        assert transport.get_write_buffer_size() > 0  # shrunk, not emptied
        clock.t += 2  # past the minute since the pause began, but bytes were taken
        assert await taken.write(resp, CHUNK)
        clock.t += STALL_S - 1  # and again a long pause: not yet a minute since taken
        assert await taken.write(resp, CHUNK)
