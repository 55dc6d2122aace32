"""The serial transport's reconnect backoff over real ptys: what resets it (a session that
was up, not one that merely got bytes) and that each error class counts its own attempts.
The backoff records the attempt number the link loop asks a delay for, so the tests
assert on the loop's counting, not on how fast anything ran."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path

from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, PortBackoff, run_serial_device
from monitord.simulators.masimo import MasimoSim
from tests.kit import device_config, eventually


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
