"""asyncio helpers that Python 3.11 gets wrong.

`asyncio.wait_for` in 3.11 swallows a cancellation that arrives in the same loop turn as
the awaited thing completing (gh-86296, fixed in 3.12): the cancelled task carries on as
if nothing happened. In a loop that waits with a timeout (a sink waiting for work, a
protocol waiting for a frame) the task then never ends, and `monitord` hangs on stop until
systemd kills it. `within()` waits the same way without that flaw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout_s: float) -> T:
    """The result of `aw`, or TimeoutError after `timeout_s` (then `aw` is cancelled).
    A cancellation of the caller always propagates (and cancels `aw`)."""
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
