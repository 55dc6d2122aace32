"""monitord.aio.within: a wait with a timeout that never swallows a cancellation.

Python 3.11's asyncio.wait_for loses a cancel that arrives in the same loop turn as the
awaited event; a sink loop waiting that way never ended and `monitord run` hung on
SIGTERM (about 1 stop in 20 right after a restart, seen with the MQTT sink's `_tx`)."""

from __future__ import annotations

import asyncio

import pytest

from monitord.aio import within


async def _waiter(ev: asyncio.Event, rounds: list[int]) -> None:
    # The shape of the sink's loop: wait for work with a timeout, then go round again.
    while True:
        rounds.append(1)
        ev.clear()
        try:
            await within(ev.wait(), 1.0)
        except TimeoutError:
            pass


async def test_a_cancel_racing_the_event_ends_the_loop() -> None:
    for _ in range(50):
        ev = asyncio.Event()
        rounds: list[int] = []
        task = asyncio.create_task(_waiter(ev, rounds))
        await asyncio.sleep(0)  # the waiter is parked in within()
        ev.set()  # work arrives ...
        task.cancel()  # ... in the same loop turn as the stop
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert task.cancelled()


async def test_result_and_timeout() -> None:
    q: asyncio.Queue[int] = asyncio.Queue()
    q.put_nowait(7)
    assert await within(q.get(), 1.0) == 7
    with pytest.raises(TimeoutError):
        await within(q.get(), 0.01)
    q.put_nowait(8)  # the timed-out get took nothing
    assert await within(q.get(), 1.0) == 8
