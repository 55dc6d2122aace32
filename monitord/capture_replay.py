"""Decode a capture exactly as the daemon would (`monitord decode --file`).

The recorded pieces go through the live code, not a copy of it:
- serial: the driver's protocol object (`desc.make_protocol`, same options) runs once per
  recorded connection on a link that hands out the recorded chunks, so line splitting,
  framing, IntelliVue's association dialog and its re-poll de-duplication all apply;
  what the protocol writes is swallowed.
- BLE: the BLE link's per-device session (drivers/ble_link.py `replay_session`) gets the
  recorded connections (the advertised name selects the model quirks, as live) and
  values, so quirks and de-duplication of pushed-again records apply.

It runs on an event loop whose clock is virtual: a recorded chunk is handed out when the
loop's time reaches its `t`, and the clock jumps to the next timer instead of sleeping.
So a protocol's own timers (poll period, answer timeouts) see the recorded timing, an
hour of capture decodes in a moment, and a reading's receive time is its chunk's `t`.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitord.capturefile import Capture, CaptureError, Segment
from monitord.config import DeviceConfig
from monitord.drivers.base import DriverDescriptor, LinkLost, Reject, RejectReason
from monitord.drivers.registry import DRIVERS
from monitord.models import Reading


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; when nothing is ready, moves the loop's clock forward by
    the time the loop wanted to wait (to its next timer)."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        if timeout is None or timeout <= 0:
            ready: list[tuple[Any, int]] = super().select(timeout)
            return ready
        ready = super().select(0)
        if not ready:
            self._advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time, starting at 0 (only for in-memory work: no I/O
    waits for real time on it)."""

    def __init__(self) -> None:
        self._virtual = 0.0
        super().__init__(_JumpingSelector(self._advance))

    def _advance(self, dt: float) -> None:
        self._virtual += dt

    def time(self) -> float:
        return self._virtual


@dataclass
class ReplayContext:
    """A `monitord.drivers.base.DeviceContext` whose clock is the capture's: `started_at` plus the
    `t` of the chunk being decoded."""

    chair: str
    device: str
    started_at: datetime
    t: float = 0.0
    out: list[tuple[float, Reading | Reject]] = field(default_factory=list)
    links: list[tuple[float, bool, str]] = field(default_factory=list)

    def emit(self, reading: Reading) -> None:
        self.out.append((self.t, reading))

    def reject(self, reject: Reject) -> None:
        self.out.append((self.t, reject))

    def now(self) -> datetime:
        return self.started_at + timedelta(seconds=self.t)

    def link(self, up: bool, reason: str = "") -> None:
        self.links.append((self.t, up, reason))


async def _until(t: float) -> None:
    loop = asyncio.get_running_loop()
    if t > loop.time():
        fut: asyncio.Future[None] = loop.create_future()

        def due() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = loop.call_at(t, due)
        try:
            await fut
        finally:
            handle.cancel()


class _ReplayLink:
    """One recorded connection as a `monitord.drivers.base.ByteLink`."""

    def __init__(self, seg: Segment, ctx: ReplayContext) -> None:
        self._rx = [r for r in seg.data if r.kind == "rx"]
        self._seg = seg
        self._ctx = ctx
        self._i = 0
        self.written = 0

    async def read(self) -> bytes:
        if self._i < len(self._rx):
            rec = self._rx[self._i]
            self._i += 1
            await _until(rec.t)
            self._ctx.t = rec.t
            return rec.data
        await _until(self._seg.end_t)
        raise LinkLost(self._seg.end_reason)

    async def write(self, data: bytes) -> None:
        if self._i >= len(self._rx) and asyncio.get_running_loop().time() >= self._seg.end_t:
            raise LinkLost(self._seg.end_reason)
        self.written += len(data)

    def heard(self) -> None:
        pass  # a replay has no link state to report


def device_config(cap: Capture) -> DeviceConfig:
    """The recorded device configuration (raises CaptureError if it is not valid)."""
    h = cap.header
    cfg = {k: v for k, v in dict(h.get("config") or {}).items() if k not in ("id", "driver")}
    if h["driver"] not in DRIVERS:
        raise CaptureError(f"header: unknown driver {h['driver']!r}")
    if DRIVERS[h["driver"]].transport != cap.transport:
        raise CaptureError(f"header: driver {h['driver']!r} is not a {cap.transport} driver")
    try:
        return DeviceConfig(id=h["device"], driver=h["driver"], **cfg)
    except Exception as e:  # pydantic's message names the field
        raise CaptureError(f"header: bad device config: {e}".splitlines()[0]) from None


async def _replay_serial(
    cap: Capture, dev: DeviceConfig, desc: DriverDescriptor, ctx: ReplayContext
) -> None:
    assert desc.make_protocol is not None
    protocol = desc.make_protocol(dev.settings)  # one per device, as live
    for seg in cap.segments():
        await _until(seg.connected.t)
        ctx.t = seg.connected.t
        try:
            await protocol.run(_ReplayLink(seg, ctx), ctx)
        except LinkLost:
            pass


async def _replay_ble(
    cap: Capture,
    dev: DeviceConfig,
    desc: DriverDescriptor,
    ctx: ReplayContext,
    name: str | None = None,
) -> None:
    from monitord.drivers.ble_link import replay_session

    session = replay_session(dev, desc, ctx)
    for rec in cap.records:
        await _until(rec.t)
        ctx.t = rec.t
        if rec.kind == "connected":
            session.connected(name or rec.name)
        elif rec.kind == "rx" and rec.char is not None:
            sub = session.subscription(rec.char)
            if sub is None:
                ctx.reject(
                    Reject(
                        RejectReason.UNKNOWN_TYPE,
                        f"characteristic {rec.char} is not one that {desc.name} subscribes to",
                    )
                )
            else:
                session.on_value(sub, rec.data)


def replay(cap: Capture, name: str | None = None) -> list[tuple[float, Reading | Reject]]:
    """Readings and rejects, in the order the daemon would have had them, each with the
    `t` of the bytes it came from. `name` replaces the recorded advertised name of a BLE
    device (its model quirks then apply). Raises CaptureError for an unusable header."""
    dev = device_config(cap)
    desc = DRIVERS[dev.driver]
    ctx = ReplayContext(str(cap.header["chair"]), dev.id, cap.started_at)
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        if desc.transport == "serial":
            runner.run(_replay_serial(cap, dev, desc, ctx))
        else:
            runner.run(_replay_ble(cap, dev, desc, ctx, name))
    return ctx.out
