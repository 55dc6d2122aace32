"""Python's cyclic garbage collector, run by the event loop on a timer instead of inside
whichever allocation crosses the threshold.

Why: CPython collects generation 0 when 700 more container objects are alive than at the
last collection. The daemon's steady churn (asyncio handles, timeouts, batches held until
their commit) crosses that about 10 times a second with 16 chairs, and each collection
holds the GIL for 0.1-0.6 ms (a generation-1 collection about 1 ms). An alarm allocates
a few hundred objects on its way from the pty to the broker, so the alarm's own
allocations were a likely trigger of a collection on its path. In the alert bench, pacing
the collector took ~0.3 ms off the alarm's median and its p99 over the broker
(bench/results.md, section "evening").

With automatic collection off, `pace()` checks the counts every 100 ms to 1 s (as fast
as they fill) and runs the generation CPython would have run. The work is the same,
run at moments unrelated to an alarm, and never while an alarm is in flight.

At start, `gc.freeze()` moves everything alive then (modules, classes, the config, the
schemas: ~55,000 objects) out of the collector's sight, so a full collection scans only
what was made since (it took 15-35 ms before).

Before that, from the first moment of `monitord run` to READY=1 (`hold_until_paced`),
automatic collection is off too: the start builds ~50,000 long-lived objects (modules,
classes, pydantic schemas, the config) and allocates almost no cycles, yet CPython's
trigger ran ~100 collections over them, a full one among them once the start had grown
past ~10 generation-1 collections (20-30 ms): 45-65 ms of a 0.45-s start's CPU on the bench
VM, more on a Pi. pace()'s first `gc.collect()` frees whatever cycles the start made.

Several daemons in one process (the tests) share the collector: the first to start
turns automatic collection off, the last to stop turns it back on.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

_users = 0
_was_enabled = True
_held = False  # turned off by hold_until_paced(): pace() hands it back when it ends


def hold_until_paced() -> None:
    """No automatic collection until pace() owns the collector (`monitord run`, before
    its imports): see the module's docstring. A start that fails exits the process."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


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
    interval_s: float = 0.1,
    step_aside: Callable[[], Awaitable[None]] | None = None,
    max_interval_s: float = 1.0,
) -> None:
    """Own the collector until cancelled: automatic collection off, a look every
    `interval_s` at most and a collection when one is due, after `step_aside()` (an alarm
    in flight first: see monitord/alarmwindow.py). The wait follows the churn: a look that
    finds nothing due doubles it (up to `max_interval_s`), one that finds generation 0
    filled twice over halves it (down to `interval_s`). So an idle or 1-chair daemon wakes
    about once a second, not ten times (a wake of a cold Python process costs ~0.3 ms of
    CPU here), and a busy one every 100-200 ms. Restores automatic collection when the
    last user ends."""
    global _users, _was_enabled, _held
    if _users == 0:
        _was_enabled = gc.isenabled() or _held
        _held = False
        gc.collect()
        gc.freeze()
        gc.disable()
    _users += 1
    try:
        wait_s = interval_s
        while True:
            await asyncio.sleep(wait_s)
            count, threshold = gc.get_count(), gc.get_threshold()
            if due(count, threshold) is None:
                wait_s = min(2 * wait_s, max_interval_s)
                continue
            if count[0] >= 2 * threshold[0]:  # filled twice over: look sooner next time
                wait_s = max(wait_s / 2, interval_s)
            if step_aside is not None:
                await step_aside()
            collect_if_due()
    finally:
        _users -= 1
        if _users == 0:
            gc.unfreeze()
            if _was_enabled:
                gc.enable()
