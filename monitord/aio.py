"""asyncio helpers that Python 3.11 gets wrong.

`asyncio.wait_for` in 3.11 swallows a cancellation that arrives in the same loop turn as
the awaited thing completing (gh-86296, fixed in 3.12): the cancelled task carries on as
if nothing happened. In a loop that waits with a timeout (a sink waiting for work, a
protocol waiting for a frame) the task then never ends, and `monitord` hangs on stop until
systemd kills it. `within()` waits the same way without that flaw.

`Doze` is the cheapest wait a task can do until a timeout or until something rouses it.
`cancelled_all()` stops a caller's own tasks without swallowing the caller's own stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout_s: float | None) -> T:
    """The result of `aw`, or TimeoutError after `timeout_s` (None: no limit), `aw` then
    cancelled. A cancellation of the caller always propagates (and cancels `aw`)."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError
    return task.result()


async def cancelled_all(*tasks: asyncio.Task[Any]) -> None:
    """Cancel `tasks` (the caller's own) and wait until each has ended. A cancellation of
    the caller meanwhile goes on up once they have ended: `suppress(CancelledError)`
    around each `await task` cannot tell the task's CancelledError (expected: we cancelled
    it) from the caller's own, and a stop of the caller that came while a task was still
    ending (the station's bridge saying `offline`, up to 2 s) was swallowed: the caller
    went on as if never stopped. Waited with asyncio.wait, not gather: a gather stopped
    meanwhile cancels its tasks a second time (cutting their clean-up short: the bridge's
    `offline` never said) and returns at once, leaving them running past their caller.
    Stopped a second time while they end, it goes on up at once. A task's own error
    other than its cancellation is raised once all have ended (the first of them)."""
    if not tasks:
        return
    for t in tasks:
        t.cancel()
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        await asyncio.wait(tasks)  # ours were cancelled already: let them finish ending
        raise
    for t in tasks:
        err = None if t.cancelled() else t.exception()
        if err is not None:
            raise err


class Doze:
    """A sleep that `rouse` ends early: one future and one timer per wait, no task and no
    `asyncio.Event` (the idle waits of the chair task, the annunciator and the delivery
    alarm: each wake is a cost on a Pi, and a chair's is on every alarm's path; issue 20).
    On the loop."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def rouse(self) -> None:
        """End the current wait (a no-op when nobody waits)."""
        if self._waiter is not None:
            _release(self._waiter)

    async def __call__(self, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(max(wait_s, 0.0), _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def on_loop() -> bool:
    """Whether this thread is running an event loop (the store's close runs off it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
