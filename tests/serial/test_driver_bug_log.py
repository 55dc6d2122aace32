"""A serial driver's bug (its protocol raises) is told at ERROR with its traceback once per
bug, over a real pty with the Masimo simulator: not again at each connection that went up
before the bug struck (the once-per-outage memory was cleared by each such brief up, so a
bug on a connection's second reading logged a traceback at every reconnect), and a
different bug of the same driver is told too (it was DEBUG: one memory per error class)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from serial_testkit import RecordingContext

from monitord.config import DeviceOptions
from monitord.drivers import masimo_ascii
from monitord.drivers.base import ByteLink, DeviceContext, DriverDescriptor, SerialProtocol
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind, Reading
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim, line
from tests.kit import device_config

# (connection number, reading number on it), both from 1 -> the bug to raise, or None
Bug = Callable[[int, int], Exception | None]


class _Emits:
    """The context the real Masimo protocol emits to, with the test's bug on emitting
    (a bug between decoding and emitting: in stamping, a quirk's fix-up, a new field)."""

    def __init__(self, ctx: DeviceContext, bug: Bug, connection: int) -> None:
        self._ctx, self._bug, self._conn, self._n = ctx, bug, connection, 0
        self.chair, self.device = ctx.chair, ctx.device
        self.reject, self.now, self.link = ctx.reject, ctx.now, ctx.link

    def emit(self, reading: Reading) -> None:
        self._n += 1
        e = self._bug(self._conn, self._n)
        if e is not None:
            raise e
        self._ctx.emit(reading)


class _Protocol:
    def __init__(self, inner: SerialProtocol, bug: Bug) -> None:
        self._inner, self._bug = inner, bug
        self.connections = 0

    async def run(self, link: ByteLink, ctx: DeviceContext) -> None:
        self.connections += 1
        await self._inner.run(link, _Emits(ctx, self._bug, self.connections))


def _driver(bug: Bug) -> DriverDescriptor:
    def make(settings: DeviceOptions) -> SerialProtocol:
        assert masimo_ascii.DRIVER.make_protocol is not None
        return _Protocol(masimo_ascii.DRIVER.make_protocol(settings), bug)

    return dataclasses.replace(masimo_ascii.DRIVER, name="masimo-buggy", make_protocol=make)


async def _play(ctx: RecordingContext, bug: Bug, done: Callable[[], bool]) -> None:
    """The simulated Masimo sends a line each 20 ms until `done` (or 20 s)."""
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port, silence_s=1.0)
        task = asyncio.create_task(
            run_serial_device(
                dev, _driver(bug), ctx, backoff=PortBackoff(min_s=0.02, base_s=0.02, cap_s=0.1)
            )
        )
        try:
            for _ in range(1000):
                ev = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70})
                sim.write(line(ev, datetime.now(UTC)))
                if done():
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]


async def test_a_bug_on_each_connections_second_reading_is_told_once_not_per_reconnect(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # A bug in state kept across lines (the second line of a connection is compared with
    # the first): each connection is up at its second decoded line, then crashes.
    caplog.set_level(logging.DEBUG, "monitord")

    def bug(conn: int, n: int) -> Exception | None:
        return RuntimeError("bug comparing with the previous line") if n == 2 else None

    await _play(ctx, bug, lambda: sum(1 for up, _ in ctx.links if not up) >= 5)
    downs = [why for up, why in ctx.links if not up]
    assert len(downs) >= 5, ctx.links
    told = _tracebacks(caplog)
    assert len(told) == 1, [r.getMessage() for r in told]
    assert "bug comparing with the previous line" in str(told[0].exc_info)


async def test_a_different_bug_of_the_same_driver_is_told_with_its_traceback(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # The monitor's lines go on; the first connections crash on one bug, the later ones
    # on another (a field the device starts to send). The second was said at DEBUG only.
    caplog.set_level(logging.DEBUG, "monitord")

    def bug(conn: int, n: int) -> Exception | None:
        return KeyError("first bug") if conn <= 2 else ValueError("second bug")

    await _play(ctx, bug, lambda: sum(1 for up, _ in ctx.links if not up) >= 1 and any(
        "second bug" in r.getMessage() for r in caplog.records))  # fmt: skip
    told = [str(r.exc_info[1]) for r in _tracebacks(caplog) if r.exc_info]
    assert told == ["'first bug'", "second bug"], told


async def test_a_driver_crashing_on_every_line_stays_down(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # drivers/serial_link.py: after a driver bug "the next connection is up only once the
    # protocol decoded a second unit, so a driver crashing on each line its device sends
    # is down (and `tech.device_lost` comes), not up once a line". Up after one unit, the
    # link flapped up and down at each reconnect and the nurse got no alarm while no
    # reading arrived; every other test still passed.
    caplog.set_level(logging.DEBUG, "monitord")

    def bug(conn: int, n: int) -> Exception | None:
        return RuntimeError("bug on every line")

    def crashes() -> int:  # each connection's crash, told at ERROR once, then DEBUG
        return sum("driver error" in r.getMessage() for r in caplog.records)

    await _play(ctx, bug, lambda: crashes() >= 5)
    assert crashes() >= 5
    # up once (the first connection, before anything was known of the bug), then down
    assert [up for up, _ in ctx.links] == [True, False], ctx.links
