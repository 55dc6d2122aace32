"""At most `per_client` open connections per client address on the station's port.

Every connection holds a file descriptor until it closes (server.py closes an idle one
after KEEPALIVE_S, 10 s), and a service under systemd has 1024 of them: one host of
the LAN opening a thousand idle connections would leave the station unable to accept the
wallboards' own (a reconnecting page, an ACK), to read the nurses file or to reach the
broker again. A connection over the cap is closed at once; a browser needs a few (6 at
most per host in Chromium), so a cap of 32 leaves room for several pages on one machine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

PER_CLIENT = 32


class ClientCap:
    def __init__(self, per_client: int = PER_CLIENT) -> None:
        self.per_client = per_client
        self.open: Counter[str] = Counter()

    def factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for loop.create_server: `make()`'s protocol, when admitted."""
        return lambda: _Admit(self, make)


class _Admit(asyncio.Protocol):
    """One connection: passed to the server's own protocol if its client is under the cap,
    else closed before anything is read from it."""

    def __init__(self, cap: ClientCap, make: Callable[[], asyncio.Protocol]) -> None:
        self.cap, self.make = cap, make
        self.inner: asyncio.Protocol | None = None
        self.who = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer: Any = transport.get_extra_info("peername")
        self.who = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self.cap.open[self.who] >= self.cap.per_client:
            cast(asyncio.Transport, transport).abort()
            return
        self.cap.open[self.who] += 1
        self.inner = self.make()
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self.cap.open[self.who] -= 1
        if self.cap.open[self.who] <= 0:
            del self.cap.open[self.who]
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()
