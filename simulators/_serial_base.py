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
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
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
        self._writes = 0  # write() calls, to tell whether an output hook wrote
        self._wrote_at: float | None = None  # monotonic time of the last output
        self._task: asyncio.Task[None] | None = None
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
