"""Record factories for delivery tests (no wall clock in the values that matter), a
sink's run loop as a task for the length of a block, and an InfluxDB sink running on an
outbox of three readings (`influx_sink_on`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from aiohttp import web

from monitord.config import InfluxConfig, StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox
from monitord.sinks.commands import Command
from monitord.sinks.influx import InfluxSink

# Fixed once per test run, so calling a factory twice gives equal records.
_T0 = int(time.time()) - 3600


def base_time() -> datetime:
    """A recent instant at whole seconds (servers keep data inside their retention)."""
    return datetime.fromtimestamp(_T0, tz=UTC)


def reading(i: int, chair: str = "chair-1", t0: datetime | None = None) -> Reading:
    t0 = t0 or base_time()
    at = t0 + timedelta(seconds=i)
    if i % 3 == 0:
        return Reading(
            chair,
            "bp",
            Kind.BP,
            {"sys_mmHg": 120.0 + i % 7, "dia_mmHg": 80.0, "map_mmHg": 93.0, "pulse_bpm": 70.0},
            at,
            at + timedelta(milliseconds=20),
        )
    if i % 3 == 1:
        return Reading(chair, "hr", Kind.HR, {"hr_bpm": 60.0 + i % 11}, at, at, contact=True)
    return Reading(
        chair,
        "spo2",
        Kind.SPO2,
        {"spo2_pct": 97.0, "pulse_bpm": None},
        at,
        at,
        valid=i % 5 != 0,
        flags=("probe_off",) if i % 5 == 0 else (),
    )


def alert(i: int, chair: str = "chair-1", t: float | None = None) -> AlertEvent:
    t = float(_T0 + 1800 + i) if t is None else t
    return AlertEvent(
        t=t,
        chair=chair,
        rule="spo2.low",
        event=("raised", "cleared")[i % 2],
        priority="high",
        kind="physiological",
        alert_id=f"a-{i:05d}",
        phase="dosing",
        value={"spo2_pct": 85.0},
        message=f'SpO2 low, "event" {i}',
    )


def session(i: int, chair: str = "chair-1") -> SessionEvent:
    return SessionEvent(
        t=float(_T0 + 1900 + i),
        chair=chair,
        action=("start", "dose_start", "dose_end", "end")[i % 4],
        protocol="esketamine",
        session_id="s-0001",
    )


@contextlib.asynccontextmanager
async def running(run: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """`run()` (a sink's `run`) as a task inside the block, cancelled at its end."""
    task = asyncio.ensure_future(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def no_command(chair: str, cmd: Command) -> str | None:
    """A sink's `on_command` for tests that send no command."""
    return None


@contextlib.asynccontextmanager
async def influx_sink_on(
    cfg: InfluxConfig,
    tmp: Path,
    site: str = "site-a",
    *,
    backoff_base_s: float = 0.05,
    backoff_cap_s: float = 0.2,
) -> AsyncIterator[tuple[InfluxSink, Outbox]]:
    """An InfluxSink on `cfg` running for the block, its outbox (tmp/outbox.sqlite) holding
    three readings to write; the sink stopped and the outbox closed at the end."""
    path = tmp / "outbox.sqlite"
    outbox = Outbox(path, StorageConfig(path=path))
    try:
        outbox.add_readings([reading(i) for i in range(3)], {})
        outbox.commit()
        sink = InfluxSink(
            cfg, site, outbox, backoff_base_s=backoff_base_s, backoff_cap_s=backoff_cap_s
        )
        async with running(sink.run):
            yield sink, outbox
    finally:
        outbox.close()


class Proxy(Protocol):
    """A test's HTTP proxy: its handler, and its URL once served."""

    url: str

    async def handle(self, request: web.Request) -> web.StreamResponse: ...


@contextlib.asynccontextmanager
async def answering(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """`handle` answering every path on 127.0.0.1 (any port) for the block; its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving(proxy: Proxy) -> AsyncIterator[None]:
    """`proxy` served on 127.0.0.1 (any port, set in `proxy.url`) for the block."""
    async with answering(proxy.handle) as url:
        proxy.url = url
        yield
