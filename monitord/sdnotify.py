"""systemd notify protocol (sd_notify(3)) over $NOTIFY_SOCKET, without libsystemd.

A datagram per message; abstract sockets start with '@'. A missing socket makes every call
a no-op, so the daemon runs the same under systemd, in a terminal and in tests.
`pace_watchdog` is the WATCHDOG=1 loop of both services (`monitord run`, `monitord station`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

log = logging.getLogger("monitord.sdnotify")


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._sock: socket.socket | None = None
        self._addr: str | bytes | None = None
        if addr:
            self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never wait: it is called on the event loop, and a full socket (PID 1 not
            # reading: busy, or hung in a reload) blocked the whole daemon in sendto, every
            # alarm with it; a message that does not fit is dropped (the next ping retries).
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *fields: str) -> None:
        if self._sock is None or self._addr is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self._addr)
        except OSError:
            pass  # systemd gone (shutdown) or socket full: nothing useful to do

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class StartExtender:
    """Keeps systemd from killing a start that is making progress: long work before
    READY=1 (migrating a large store from an old schema, its integrity check, on a Pi's SD
    card) could outlast the unit's start timeout (TimeoutStartSec, 90 s by default), and
    the daemon would be killed and restarted into the same work, never monitoring. Called
    from SQLite's progress handler while that work runs; at most every `every_s` it sends
    EXTEND_TIMEOUT_USEC= (systemd >= 236) for `extend_s` more, WATCHDOG=1 when a watchdog
    is set, and the work as STATUS=. Work that hangs (a dead disk) stops calling it, so the
    timeout applies again."""

    def __init__(
        self,
        notifier: Notifier,
        every_s: float = 5.0,
        extend_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier, self.every_s, self.extend_s, self.clock = notifier, every_s, extend_s, clock
        self._last: float | None = None

    def __call__(self, what: str) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        fields = [f"EXTEND_TIMEOUT_USEC={int(self.extend_s * 1e6)}", f"STATUS={what}"]
        if watchdog_interval_s() is not None:
            fields.append("WATCHDOG=1")
        self.notifier.notify(*fields)


def watchdog_interval_s() -> float | None:
    """Half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends; None when unset."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


async def pace_watchdog(
    notifier: Notifier,
    withhold: Callable[[float], str | None] = lambda interval: None,
    status: Callable[[], str] | None = None,
) -> None:
    """Send WATCHDOG=1 every `watchdog_interval_s()` from the running event loop; returns at
    once when systemd set no watchdog. A task, never a thread: a loop that hangs (a blocking
    call, a deadlock) stops the pings, and one that lagged a whole interval withholds the
    next, so systemd kills and restarts the service. `withhold(interval)` names another
    reason to withhold it (the daemon's chair tasks that stopped turning), or None."""
    interval = watchdog_interval_s()
    if interval is None:
        return
    while True:
        t0 = time.monotonic()
        await asyncio.sleep(interval)
        lag = time.monotonic() - t0 - interval
        why = f"loop lag {lag:.2f}s" if lag >= interval else withhold(interval)
        if why is None:
            notifier.watchdog()
            if status is not None:
                notifier.status(status())
        else:
            log.error(f"watchdog withheld: {why}")
