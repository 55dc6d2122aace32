"""Issue 20 (`inf`): IntelliVue polls are phase-spread per device.

A daemon associates all its monitors at start; polled on the same period from the same
instant, their answers arrived as one burst each period. `poll_phase(chair, device,
poll_s)` delays each device's second poll by a fixed share of the period, so afterwards
each device polls at its own offset.

- Unit: deterministic, in [0, min(poll_s, 1 s)), proportional to poll_s up to 1 s (a
  longer period keeps the share of 1 s: the keep-alive gap grows by at most 1 s),
  different for two devices of a chair; over the benches' 16 chairs (`chair-01` to
  `chair-16`, device `mon`) the offsets spread over the period: at most 4 of 16 in any
  tenth of it (without phases all 16 poll in the same millisecond). They are hashed, not
  allotted: chair-01 and chair-07 share one (0.893 of the period), and three fall within
  1 % (0.765, 0.768, 0.773).
- Integration (real pty, IntelliVueSim, the driver's own session): the first poll goes at
  once after the association and the second one `poll_s + phase` after it, then every
  `poll_s`. The poll requests' arrival times are recorded at the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from monitord.drivers import intellivue_frames as F
from monitord.drivers.intellivue import poll_phase
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.simulators.intellivue import IntelliVueSim
from tests.kit import RecordingContext, device_config

BENCH_CHAIRS = [f"chair-{i:02d}" for i in range(1, 17)]


def test_phase_is_a_fixed_share_of_the_period_per_device() -> None:
    for chair in [*BENCH_CHAIRS, "chair-1", "room 3 / bed 2"]:
        for device in ("mon", "iv", "dev-1"):
            for poll_s in (0.5, 1.0, 2.5, 60.0):
                p = poll_phase(chair, device, poll_s)
                assert 0 <= p < min(poll_s, 1.0)
                assert p == poll_phase(chair, device, poll_s)  # deterministic
            share = poll_phase(chair, device, 1.0)
            assert abs(poll_phase(chair, device, 0.5) - share / 2) < 1e-9
            assert poll_phase(chair, device, 60.0) == share
    assert poll_phase("chair-01", "mon", 1.0) != poll_phase("chair-01", "ox", 1.0)


def test_bench_chairs_are_spread_over_the_period() -> None:
    shares = sorted(poll_phase(c, "mon", 1.0) for c in BENCH_CHAIRS)
    # At most 4 of 16 in any tenth of the period (wrapping around).
    crowd = max(sum(1 for s in shares if (s - start) % 1.0 < 0.1) for start in shares)
    assert crowd <= 4, shares
    assert len({round(s, 3) for s in shares}) >= 15  # one shared offset (see the docstring)
    assert len({int(s * 10) for s in shares}) >= 8  # eight tenths of the period in use
    assert shares[-1] - shares[0] > 0.9


class PollClock:
    """Records when the simulator received each association step and poll request."""

    def __init__(self, sim: IntelliVueSim) -> None:
        self.seen: list[tuple[str, float]] = []
        real = sim._handle

        def handle(msg: F.Message) -> None:
            self.seen.append((msg.type, time.monotonic()))
            real(msg)

        sim._handle = handle  # type: ignore[method-assign]  # a spy on the real method

    def of(self, kind: str) -> list[float]:
        return [t for k, t in self.seen if k == kind]


async def test_second_poll_goes_a_phase_later_over_a_pty() -> None:
    poll_s = 1.0
    chair, device = "chair-13", "mon"
    phase = poll_phase(chair, device, poll_s)
    assert phase > 0.9 * poll_s  # a large phase: easy to tell from none
    ctx = RecordingContext(chair=chair, device=device)
    sim = IntelliVueSim()
    clock = PollClock(sim)
    async with sim:
        dev = device_config(id=device, driver="intellivue", port=sim.port, poll_interval_s=poll_s)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["intellivue"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            await ctx.until(lambda: len(clock.of("poll_request")) >= 3, "three polls", 30)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    (associated,) = clock.of("mds_create_reply")
    first, second, third = clock.of("poll_request")[:3]
    assert sim.associations == 1 and not sim.rejects
    assert first - associated < phase / 2  # at once after the association
    # The second poll waits the period plus the phase (before: the period alone) ...
    assert second - first > poll_s + phase / 2, (first, second)
    # ... and the phase only once: then every period.
    assert third - second < poll_s + phase / 2, (second, third)
