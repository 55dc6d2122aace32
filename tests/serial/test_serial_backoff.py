"""The serial transport's reconnect backoff over real ptys: what resets it (a session that
was up, not one that merely got bytes) and that each error class counts its own attempts.
The backoff records the attempt number the link loop asks a delay for, so the tests
assert on the loop's counting, not on how fast anything ran."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim, line
from tests.kit import device_config, eventually

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class CountingBackoff(PortBackoff):
    """A `PortBackoff` that notes each (class, attempt) the link loop asks a delay for,
    and answers with its shortest delay (what is under test is the loop's counting; the
    delays themselves are `test_a_missing_port_is_retried_at_its_own_short_cap`'s)."""

    asked: list[tuple[LinkError | None, int]] = field(default_factory=list)

    def delay(
        self, attempt: int, rng: random.Random | None = None, error: LinkError | None = None
    ) -> float:
        self.asked.append((error, attempt))
        return self.min_s


async def test_garbage_backs_off_like_any_failure_not_at_the_minimum_forever(
    ctx: RecordingContext,
) -> None:
    # A monitor at the wrong baud rate: bytes all the time, none decode. Each session is
    # a lost link after silence_s (undecodable data); because it had got bytes, the loop
    # reset its backoff and reopened the port at the shortest delay, forever.
    backoff = CountingBackoff(min_s=0.02)
    rng = random.Random(11)
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port, silence_s=0.2)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff)
        )
        try:
            for _ in range(400):  # garbage until five sessions were lost (about 1.5 s)
                sim.write(rng.randbytes(50))
                if len(backoff.asked) >= 5:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert len(backoff.asked) >= 5, backoff.asked
    assert not any(up for up, _ in ctx.links), ctx.links
    # every session lost to garbage; the count grows (it used to be 0, 0, 0, ...)
    attempts = [n for _, n in backoff.asked[:5]]
    assert attempts == [0, 1, 2, 3, 4], backoff.asked


async def test_each_error_class_counts_its_own_attempts(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    # The adapter is unplugged for a while (port missing, many attempts), then plugged
    # in with the monitor still off (a silent line): the silent line's first retry is at
    # the shortest delay, not at the missing port's grown one.
    backoff = CountingBackoff(min_s=0.02)
    link = tmp_path / "ttyUSB-monitor"
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=str(link), silence_s=0.2)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff)
        )
        try:
            await eventually(lambda: len(backoff.asked) >= 6, 10, "missing-port retries")
            mark = len(backoff.asked)
            link.symlink_to(sim.port)  # plugged in: the port is there, the monitor silent
            await eventually(lambda: len(backoff.asked) >= mark + 3, 10, "silent-line retries")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    before, after = backoff.asked[:mark], backoff.asked[mark:]
    assert [n for _, n in before] == list(range(mark)), before
    # the silent line starts its own count at 0 (it used to carry on from `mark`)
    assert 0 in [n for _, n in after], after
    assert [n for e, n in after if e is LinkError.IO][:3] == [0, 1, 2], after


def test_a_missing_port_is_retried_at_its_own_short_cap() -> None:
    # Looking for a path costs a stat; the sooner a replugged adapter is found the
    # sooner tech.device_lost clears. Other classes keep the long cap.
    b = PortBackoff()
    rng = random.Random(3)
    missing = [b.delay(n, rng, error=LinkError.PORT_MISSING) for n in range(4, 40)]
    assert max(missing) <= b.missing_cap_s < b.cap_s
    assert max(b.delay(n, rng, error=LinkError.IO) for n in range(6, 40)) > b.missing_cap_s


async def test_a_port_that_opens_and_ends_at_once_is_not_paced_as_a_missing_one(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    # A `socket://` serial server (ser2net, a device server) that accepts each connection
    # and closes it at once (its port held by another client, its serial device gone):
    # the port is there, each read ends at once. Said once as the port's class, but
    # before it was also paced as a missing path (its 2-s cap): a connection about every
    # second for ever (58 a minute, measured; 9 in the first minute, then 2 a minute,
    # before 83bf016 made a hang-up `port missing`).
    backoff = CountingBackoff(min_s=0.02)
    opened = 0

    async def close_at_once(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal opened
        opened += 1
        w.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dev = device_config(id="ox", driver="masimo-ascii", port=f"socket://127.0.0.1:{port}")
    task = asyncio.create_task(run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff))
    try:
        await eventually(lambda: len(backoff.asked) >= 6, 10, "six connections ended")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert opened >= 6
    assert [n for _, n in backoff.asked[:6]] == [0, 1, 2, 3, 4, 5], backoff.asked
    # paced as any failure (the long cap), not as a path to look for
    assert all(e is LinkError.IO for e, _ in backoff.asked[:6]), backoff.asked
    assert [up for up, _ in ctx.links] == [False], ctx.links  # one down, as before


async def test_an_unplugged_adapter_is_still_looked_for_at_the_missing_pace(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    # What the pacing above must not change: a streaming monitor's adapter pulled out
    # (the read hangs up, the port is then missing) is looked for at the missing path's
    # short cap, so the replugged adapter is found at once.
    backoff = CountingBackoff(min_s=0.02)
    by_id = tmp_path / "usb-FTDI_FT232R_USB_UART_A9XK1C2B-if00-port0"
    async with MasimoSim(repeat=False, symlink=by_id) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=str(by_id), silence_s=1.0)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=backoff)
        )
        try:
            for _ in range(100):
                sim.write(line(SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 70}), NOW))
                if ctx.link_up:
                    break
                await asyncio.sleep(0.05)
            await sim.drop_link()
            await eventually(lambda: len(backoff.asked) >= 4, 10, "looks for the port")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert backoff.asked[:4] == [(LinkError.PORT_MISSING, n) for n in range(4)], backoff.asked
