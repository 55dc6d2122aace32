"""An event stream (`/api/events`) whose client takes nothing any more: a wallboard TV
asleep with its network on, a tab frozen, a laptop's lid shut without a goodbye. The
station dropped a stream only once 1000 updates were queued for it (server.py
`_broadcast`): on a quiet night, heartbeats and a few updates, that is never, and such a
stream kept its connection, a descriptor and a slot of the caps (admit.py) for ever. Now
a stream whose client has taken no byte for `stream_stall_s` ([station], default 60 s)
is cut; a page still there sees its stream end and reconnects by itself (EventSource),
with a fresh hello.

What can be seen of "taken": bytes the kernel could not send wait in the transport's
buffer, and that buffer shrinks when the client takes some. So a stream is stalled once
its buffer has held bytes without shrinking for `stream_stall_s`, or once one write has
waited that long for room. Until the socket buffers between the two ends are full (with
heartbeats alone, an hour or so for a client's default receive buffer), the client's
kernel takes the bytes for it and nothing is seen to stall."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable

from aiohttp import web

from monitord.aio import within

log = logging.getLogger("monitord.station")


class Taken:
    """Whether the client of one stream still takes bytes. `clock`: monotonic seconds."""

    def __init__(
        self,
        transport: asyncio.Transport | None,
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport, self.stall_s, self.clock = transport, stall_s, clock
        self.since = clock()  # when bytes were last seen taken
        self.left = 0  # bytes waiting in the transport's buffer after the last write
        # Which of the two ways the stream was found stalled, for the cut's DEBUG line:
        # both read "no byte taken for N s", and which one had cut was not told (nor that
        # a client that reads, slower than the stream grows, is cut too: test_station_
        # stream_slow_reader.py).
        self.why = ""

    def _waiting(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    async def write(self, resp: web.StreamResponse, data: bytes) -> bool:
        """Write `data`; False when the client took nothing for `stall_s` (not written)."""
        now, size = self.clock(), self._waiting()
        if size == 0 or size < self.left:
            self.since = now  # the buffer emptied or shrank since the last write: taken
        if now - self.since >= self.stall_s:
            self.why = f"its buffer not shrinking for {self.stall_s:g} s ({size} bytes waiting)"
            return False
        try:
            await within(resp.write(data), self.stall_s)
        except TimeoutError:  # one write waited that long for room
            self.why = f"a write waited {self.stall_s:g} s for room (too little taken)"
            return False
        self.left = self._waiting()
        return True


def cut(conn: asyncio.Transport | None, why: str) -> None:
    """Cut a connection at once with a reset: closed plainly, the kernel would hold its
    unsent stream (a full send buffer) waiting for a window the client never opens."""
    if conn is None:
        return
    log.debug("station: stream from %s cut: %s", conn.get_extra_info("peername"), why)
    sock = conn.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.abort()
