"""Issue 20, the alarm's path: a reading submitted to an idle chair task reaches its engine
in the next loop turn (monitord/chair.py: one wake-up future set by `submit`). Before, the
idle chair task waited with `asyncio.wait` on a fresh `queue.get()` task and an event
task: the reading went queue -> getter task -> `asyncio.wait`'s callback -> chair task,
three loop turns later, on every alarm's path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading
from tests.kit import eventually, make_chair, stop_racing

# The alarm raises on one reading (no confirmation delay).
SPO2_NOW = '"spo2.very_low" = { for_s = 0 }'


def spo2(value: float) -> Reading:
    now = datetime.now(UTC)
    return Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": value}, now, now)


async def test_a_submitted_reading_is_processed_in_the_next_loop_turn(tmp_path: Path) -> None:
    hub = Hub()
    raised: list[CommittedBatch] = []
    hub.subscribe(lambda b: raised.append(b) if b.events else None, "test")
    chair = make_chair(tmp_path, hub, SPO2_NOW)
    task = asyncio.create_task(chair.run())
    try:
        chair.submit(spo2(97.0))
        await eventually(lambda: chair.processed == 1, what="the first reading")
        await asyncio.sleep(0.05)  # the chair task waits (idle) again
        chair.submit(spo2(80.0))
        await asyncio.sleep(0)  # one loop turn
        assert chair.processed == 2  # before: still 1 (three turns to go)
        assert [e.rule for e in raised[0].events] == ["spo2.very_low"]
        # The scenario player's waits are answered after the batch, as before.
        n = chair.processed
        chair.submit(spo2(97.0))
        assert await chair.wait_for(lambda: chair.processed > n, 5.0)
        assert not await chair.wait_for(lambda: False, 0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_wait_for_the_chairs_progress_ends_on_a_stop_racing_it(tmp_path: Path) -> None:
    """The scenario player waits for each event's effect with `ChairRuntime.wait_for`, in
    a loop, many times a second. It used asyncio.wait_for, which in Python 3.11 loses a
    stop that comes in the loop turn the chair processes the event (monitord/aio.py): the
    player then went on playing and `monitord run` did not stop."""
    chair = make_chair(tmp_path, Hub(), SPO2_NOW)
    chair_task = asyncio.create_task(chair.run())

    def past(n: int) -> Callable[[], bool]:
        return lambda: chair.processed > n

    async def player() -> None:
        while True:  # the player's shape: wait for an event's effect, then the next event
            await chair.wait_for(past(chair.processed), 5.0)

    try:
        # The chair processes the reading in the next loop turn, which the stop reaches too.
        await stop_racing(player, lambda: chair.submit(spo2(97.0)), park_turns=1)
    finally:
        chair_task.cancel()
        await asyncio.gather(chair_task, return_exceptions=True)
