"""Shared machinery of the serial device simulators (see simulators/pty.py for the port).

A `SerialSim` owns a port (pty by default, `socket://` on request), keeps the latest
measurement per kind set by `send()`, and runs the device's output loop while the link is
up. `drop_link()` unplugs (closes the pty), `restore_link()` replugs on a new pty and
re-points the symlink.

Device clock: `send(ev, at)` sets the device clock to `at`; between events it advances at
`speed` times real time (a simulated chair's virtual clock), so repeated output carries a
plausible, monotonic device time.

Cadence (`repeat=True`): a monitor outputs on its own clock, one line (or packet, or
second of packets) every `period_s`, each carrying its latest numbers; a Rad-8 writes one
ASCII 1 line a second. So an event goes out at once only when the last output is a
period old; otherwise the next periodic output carries it, and the period restarts from
an output made for an event. Output never comes faster than one per `period_s`, however
events arrive (before, an event was written at once beside the periodic output: two
Rad-8 lines within a second).

Pace: a device that streams (a CMS50's 60 packets a second) outputs through
`write_paced`, pieces evenly spaced in real time, an output's pieces after those of the
one before, not all at once: a second written in one burst left its last packet waiting
for the next burst in a driver that passes a packet on when the next one starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.pty import PtyPort, SimPort, SocketPort


class SerialSim:
    kinds: tuple[Kind, ...] = ()
    #: seconds of real time between repeated outputs (the device's own cadence)
    period_s: float = 1.0
    #: speaks only when polled, each answer carrying every kind set since in the order of
    #: `kinds` (the scenario player then sets a `t`'s HR and SpO2 together)
    answers_polls: bool = False

    def __init__(
        self,
        *,
        symlink: Path | None = None,
        socket_port: int | None = None,
        speed: float = 1.0,
        repeat: bool = True,
    ) -> None:
        self.speed = speed
        # repeat=False: output only on `send()`. The scenario player uses this so a
        # simulated chair sees exactly the scenario's samples, as `monitord replay` does;
        # repeat=True imitates a real monitor's own cadence (`monitord simulate`).
        self.repeat = repeat
        self.latest: dict[Kind, tuple[SimEvent, datetime]] = {}
        self._clock: tuple[datetime, float] | None = None  # (device time, monotonic)
        self._writes = 0  # outputs (write, write_paced), to tell whether a hook wrote
        self._wrote_at: float | None = None  # monotonic time of the last output
        self._task: asyncio.Task[None] | None = None
        self._paced: deque[bytes] = deque()  # `write_paced` pieces not yet written
        self._paced_task: asyncio.Task[None] | None = None
        self._paced_every = 0.0
        self._paced_next = 0.0  # monotonic time the next paced piece is due
        self.port_obj: SimPort = (
            SocketPort(socket_port, self.on_data)
            if socket_port is not None
            else PtyPort(symlink, self.on_data)
        )

    @property
    def port(self) -> str:
        return self.port_obj.port

    def device_now(self) -> datetime | None:
        if self._clock is None:
            return None
        at, mono = self._clock
        return at + timedelta(seconds=(time.monotonic() - mono) * self.speed)

    # --- SimDevice
    async def __aenter__(self) -> Self:
        await self.restore_link()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop_task()
        await self.port_obj.close()

    async def send(self, ev: SimEvent, at: datetime) -> None:
        self.latest[ev.kind] = (ev, at)
        self._clock = (at, time.monotonic())
        if self.repeat and self._since_output() < self.period_s:
            return  # the next periodic output carries it (module docstring: cadence)
        self._output(lambda: self.on_event(ev, at))

    async def drop_link(self) -> None:
        await self._stop_task()
        await self.port_obj.close()
        self.on_link_change()

    async def restore_link(self) -> None:
        await self.port_obj.open()
        self.on_link_change()
        if self._task is None and self.repeat:
            self._task = asyncio.create_task(self._loop())

    async def _stop_task(self) -> None:
        # What was still to be streamed is lost with the link, as a real unplug loses it.
        self._paced.clear()
        self._paced_next = 0.0
        if self._paced_task is not None:
            self._paced_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._paced_task
            self._paced_task = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        ticked = time.monotonic()
        while True:
            last = max(ticked, self._wrote_at or ticked)
            await asyncio.sleep(max(0.0, last + self.period_s - time.monotonic()))
            if self._since_output() < self.period_s:
                continue  # an event went out meanwhile: the period runs from it
            ticked = time.monotonic()
            self._output(self.tick)

    def _since_output(self) -> float:
        return float("inf") if self._wrote_at is None else time.monotonic() - self._wrote_at

    def _output(self, hook: Callable[[], None]) -> None:
        """Run an output hook (`on_event`, `tick`); if it wrote, the period starts now."""
        before = self._writes
        hook()
        if self._writes != before:
            self._wrote_at = time.monotonic()

    # --- device specifics (override)
    def on_data(self, data: bytes) -> None:
        """Bytes from the daemon (listen-only devices ignore them)."""

    def on_event(self, ev: SimEvent, at: datetime) -> None:
        """A new measurement: output it now if the device would."""

    def on_link_change(self) -> None:
        """The link was dropped or restored (reset per-connection state)."""

    def tick(self) -> None:
        """Periodic output while the link is up."""

    def write(self, data: bytes) -> None:
        self._writes += 1
        self.port_obj.write(data)

    def write_paced(self, pieces: Iterable[bytes], every_s: float) -> None:
        """One output written as `pieces`, one every `every_s` real seconds (module
        docstring: pace): the first now, or, while an earlier output's last piece is not
        yet due, right after it at the same pace, so the line carries a steady stream. An
        earlier output still going out when this one comes is written out at once first:
        faster than real time (a scenario chair at `speed` 60: an output every 1/60 s)
        the stream is not held back (it fell behind the scenario, its queue growing without
        end), and the new output's pieces follow it straight away."""
        self._writes += 1
        if self._paced:
            self.port_obj.write(b"".join(self._paced))
            self._paced.clear()
            self._paced_next = 0.0
        idle = time.monotonic() >= self._paced_next
        self._paced.extend(pieces)
        self._paced_every = every_s
        if idle and self._paced:
            self._paced_next = time.monotonic()
            self._write_piece()
        if self._paced and self._paced_task is None:
            self._paced_task = asyncio.create_task(self._pace())

    def _write_piece(self) -> None:
        self.port_obj.write(self._paced.popleft())
        # Due a pace after this piece's due time, not after the loop woke: no drift while
        # streaming (after a stall of the loop the pieces due meanwhile go out together,
        # as a port's buffer hands over what came while its reader was held up).
        self._paced_next += self._paced_every

    async def _pace(self) -> None:
        try:
            while self._paced:
                wait = self._paced_next - time.monotonic()
                if wait > 0:  # (again after it: `write_paced` may have moved the schedule)
                    await asyncio.sleep(wait)
                    continue
                self._write_piece()
        finally:
            self._paced_task = None
