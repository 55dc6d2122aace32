"""Python's cyclic garbage collector, run by the event loop on a timer instead of inside
whichever allocation crosses the threshold.

Why: CPython collects generation 0 when 700 more container objects are alive than at the
last collection. The daemon's steady churn (asyncio handles, timeouts, batches held until
their commit) crosses that about 10 times a second with 16 chairs, and each collection
holds the GIL for 0.1-0.6 ms (a generation-1 collection about 1 ms). An alarm allocates
a few hundred objects on its way from the pty to the broker, so it was the alarm's own
allocation that most often triggered a collection: in the alert bench about one alarm in
seven waited for one (bench/results.md, "the collector paced").

With automatic collection off, `pace()` checks the counts every `interval_s` and runs the
generation CPython would have run. The work is the same; it now runs at a moment that
has nothing to do with an alarm, so an alarm meets it only as often as the collector is
busy (about 0.4 % of the time), not whenever the alarm itself allocates.

At start, `gc.freeze()` moves everything alive then (modules, classes, the config, the
schemas: ~60,000 objects) out of the collector's sight, so a full collection scans only
what was made since. A full collection took 15-28 ms before.

Several daemons in one process (the tests) share the collector: the first to start
turns automatic collection off, the last to stop turns it back on.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

_users = 0
_was_enabled = True


def due(count: tuple[int, int, int], threshold: tuple[int, int, int]) -> int | None:
    """The generation CPython's own trigger would collect at these `gc.get_count()` and
    `gc.get_threshold()` values, or None. (CPython also puts off a full collection until
    a quarter of the old objects are new; after `gc.freeze()` a full one is cheap.)"""
    c0, c1, c2 = count
    t0, t1, t2 = threshold
    if t0 == 0 or c0 < t0:
        return None
    if c1 >= t1:
        return 2 if c2 >= t2 else 1
    return 0


def collect_if_due() -> int | None:
    """Run the generation that is due, if any; the generation collected."""
    gen = due(gc.get_count(), gc.get_threshold())
    if gen is not None:
        gc.collect(gen)
    return gen


async def pace(
    interval_s: float = 0.1, step_aside: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Own the collector until cancelled: automatic collection off, a collection every
    `interval_s` when one is due, after `step_aside()` (an alarm in flight first: see
    monitord/alarmwindow.py). Restores automatic collection when the last user ends."""
    global _users, _was_enabled
    if _users == 0:
        _was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
    _users += 1
    try:
        while True:
            await asyncio.sleep(interval_s)
            if step_aside is not None and due(gc.get_count(), gc.get_threshold()) is not None:
                await step_aside()
            collect_if_due()
    finally:
        _users -= 1
        if _users == 0:
            gc.unfreeze()
            if _was_enabled:
                gc.enable()
