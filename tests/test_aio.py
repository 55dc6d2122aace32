"""monitord.aio.within and Doze: waits with a timeout that never swallow a cancellation.

Python 3.11's asyncio.wait_for loses a cancel that arrives in the same loop turn as the
awaited event; a sink loop waiting that way never ended and `monitord run` hung on
SIGTERM (about 1 stop in 20 right after a restart, seen with the MQTT sink's `_tx`). Each
loop that waits for work or a deadline has a test here (the store guard's, which needs a
full disk to wake it, in tests/faults/test_guard_stop.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from monitord.aio import cancelled_all, within
from monitord.alarmwindow import AlarmWindow
from monitord.config import InfluxConfig, StorageConfig
from monitord.config_station import ForwarderConfig
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from monitord.station.forwarder import Forwarder
from tests.kit import stop_racing


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
    ev = asyncio.Event()
    rounds: list[int] = []
    await stop_racing(lambda: _waiter(ev, rounds), ev.set, rounds=50, park_turns=1)


async def test_result_and_timeout() -> None:
    q: asyncio.Queue[int] = asyncio.Queue()
    q.put_nowait(7)
    assert await within(q.get(), 1.0) == 7
    with pytest.raises(TimeoutError):
        await within(q.get(), 0.01)
    q.put_nowait(8)  # the timed-out get took nothing
    assert await within(q.get(), 1.0) == 8


async def test_the_influx_sinks_wait_ends_on_a_stop_racing_its_wake(tmp_path: Path) -> None:
    """The InfluxDB sink waits for work the same way (`InfluxSink._wait`): a stop that
    arrives in the loop turn of a wake must end it (it used asyncio.wait_for: the stop was
    lost and the sink went on)."""
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = InfluxConfig(url="http://127.0.0.1:9", api="v1", database="d")  # never contacted
    sink = InfluxSink(cfg, "site-a", outbox)
    try:
        await stop_racing(lambda: sink._wait(1.0), sink.wake, rounds=50, park_turns=1)
    finally:
        outbox.close()


async def test_a_step_aside_for_an_alarm_ends_on_a_stop_racing_the_alarms_publish() -> None:
    """The bulk work's wait for an alarm in flight (monitord/alarmwindow.py) is the same
    kind of wait: a stop in the loop turn the alarm is published must end it."""
    window = AlarmWindow()

    def in_flight() -> Coroutine[Any, Any, None]:
        window.open()  # an alarm in flight; `close` below: published
        return window.step_aside()

    await stop_racing(in_flight, window.close, rounds=50)


async def test_the_phone_forwarders_wait_ends_on_a_stop_racing_a_new_alert() -> None:
    """The station's phone forwarder waits for its next deadline the same way
    (`Forwarder.run`): a stop that arrives in the loop turn a high alert is raised must end
    it (it used asyncio.wait_for: the stop was lost and `monitord station` went on)."""
    cfg = ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=3600)  # never due here
    fwd = Forwarder(cfg, "site-a")
    ids = iter(range(1000))

    def new_alert() -> None:
        fwd.on_event({"alert_id": f"a-{next(ids)}", "event": "raised", "priority": "high"})

    await stop_racing(fwd.run, new_alert, rounds=50)


async def test_cancelled_all_lets_a_stop_of_the_caller_through() -> None:
    """monitord.aio.cancelled_all, as the station's serve() stops its tasks: a task that
    takes a while to end (the bridge saying `offline` to a slow broker) and the caller
    stopped meanwhile. Before, `suppress(CancelledError)` around `await task` swallowed
    the caller's stop: it went on as if never stopped (and returned normally)."""
    ending, let_end = asyncio.Event(), asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ending.set()
            await let_end.wait()  # its own clean-up, still under way
            raise

    went_on: list[str] = []

    async def caller(task: asyncio.Task[None]) -> None:
        await cancelled_all(task)
        went_on.append("after")

    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)  # under way
    stopper = asyncio.create_task(caller(task))
    await ending.wait()
    stopper.cancel()  # the caller stopped while the task ends
    let_end.set()
    await asyncio.wait([stopper, task])
    assert stopper.cancelled() and not went_on, "the caller's own stop was swallowed"
    assert task.cancelled()


async def test_cancelled_all_raises_a_tasks_own_error_once_all_ended() -> None:
    async def fails_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("a bug in its clean-up")

    quiet = asyncio.create_task(asyncio.Event().wait())
    bad = asyncio.create_task(fails_on_stop())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="clean-up"):
        await cancelled_all(bad, quiet)
    assert quiet.cancelled()


async def test_cancelled_all_stopped_lets_its_tasks_finish_ending() -> None:
    """The caller stopped while a task ends: the task's clean-up (the bridge saying
    `offline`) is not cut short by a second cancel, and the caller's stop goes on up only
    once the task has ended. Before (asyncio.gather), the stop cancelled the task again,
    mid clean-up, and the caller ended at once with the task still running."""
    ending, let_end = asyncio.Event(), asyncio.Event()
    cleaned: list[str] = []

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ending.set()
            await let_end.wait()  # its own clean-up, still under way
            cleaned.append("done")
            raise

    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancelled_all(task))
    await ending.wait()
    stopper.cancel()
    for _ in range(20):  # loop turns, not time: the stop is handled by now
        await asyncio.sleep(0)
    early = stopper.done() and not task.done()
    let_end.set()
    await asyncio.wait([stopper, task])
    assert not early, "the caller's stop returned with its task still running"
    assert cleaned == ["done"], "the task's clean-up was cancelled a second time"
    assert stopper.cancelled() and task.cancelled()
