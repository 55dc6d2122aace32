"""At most `per_client` open connections per client address on the station's port, and
at most `total` in all.

Every connection holds a file descriptor until it closes (server.py closes an idle one
after KEEPALIVE_S, 10 s), and a service under systemd has 1024 of them: one host of the LAN
opening a thousand idle connections would leave the station unable to accept the
wallboards' own (a reconnecting page, an ACK), to read the nurses file or to reach the
broker again. A browser needs a few (6 at most per host in Chromium), so a cap of 32 per
address leaves room for several pages on one machine; a connection over it is closed at
once. Many addresses (a flood, or a misbehaving subnet) meet the total cap, TOTAL: a
clinic's wallboards, tablets and phones (a dozen or so) hold one event stream each and
short requests, under a hundred connections even at 6 each; 256 is well above that and
leaves 3/4 of the descriptors to the station. A connection over it is answered 503 with
the reason, then closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

PER_CLIENT = 32
TOTAL = 256
WARN_EVERY_S = 60.0  # a flood held at the cap logs one line a minute, not one a connection

log = logging.getLogger("monitord.station")


class ClientCap:
    def __init__(self, per_client: int = PER_CLIENT, total: int = TOTAL) -> None:
        self.per_client, self.total = per_client, total
        self.open: Counter[str] = Counter()
        self.open_total = 0
        self._warned: float | None = None

    def factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for loop.create_server: `make()`'s protocol, when admitted."""
        return lambda: _Admit(self, make)

    def refuse_busy(self, transport: asyncio.Transport, who: str) -> None:
        body = (
            f"station busy: {self.open_total} connections are open, the most it takes; "
            "try again shortly\n"
        ).encode()
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\nRetry-After: 10\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        transport.close()  # after the answer is written
        now = asyncio.get_running_loop().time()
        if self._warned is None or now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning(
                "station: %d connections open (the cap, admit.TOTAL): refusing new ones "
                "with 503 (this one from %s); logged once a minute while it lasts",
                self.open_total,
                who,
            )


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
        if self.cap.open_total >= self.cap.total:
            self.cap.refuse_busy(cast(asyncio.Transport, transport), self.who)
            return
        self.cap.open[self.who] += 1
        self.cap.open_total += 1
        self.inner = self.make()
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self.cap.open[self.who] -= 1
        self.cap.open_total -= 1
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
