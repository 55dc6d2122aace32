"""A loop-handle trace for `monitord run` under a benchmark (bench/looptrace.py).

Loaded by Python at start because `python -m bench.alert_latency --loop-trace` puts this
folder first on the daemon child's PYTHONPATH. With MONITORD_LOOPTRACE set, every
asyncio handle the daemon's event loop runs is timed (`time.perf_counter`, the bench's
clock) and those over MONITORD_LOOPTRACE_MIN_MS (default 0.3) are kept with their owner
(a task's coroutine and name, else the callback); at exit they are written to
`$MONITORD_LOOPTRACE.<pid>.json` as [start_s, duration_s, owner]. Costs ~1 us a handle:
a tool for finding what the alarm waits behind, not for the figures themselves.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

if os.environ.get("MONITORD_LOOPTRACE"):
    import asyncio.events

    _min_s = float(os.environ.get("MONITORD_LOOPTRACE_MIN_MS", "0.3")) / 1000
    _kept: list[tuple[float, float, str]] = []
    _run = asyncio.events.Handle._run
    _clock = time.perf_counter

    def _owner(cb: object) -> str:
        task = getattr(cb, "__self__", None)
        if task is not None and hasattr(task, "get_coro"):
            coro = task.get_coro()
            return f"task {getattr(coro, '__qualname__', coro)} {task.get_name()}"
        return repr(cb)[:120]

    def _timed(self: asyncio.events.Handle) -> None:
        t = _clock()
        try:
            _run(self)
        finally:
            d = _clock() - t
            if d >= _min_s:
                _kept.append((t, d, _owner(self._callback)))  # type: ignore[attr-defined]  # asyncio private

    asyncio.events.Handle._run = _timed  # type: ignore[method-assign]  # wraps asyncio's own

    def _dump() -> None:
        if any("monitord" in a for a in sys.argv):
            path = f"{os.environ['MONITORD_LOOPTRACE']}.{os.getpid()}.json"
            with open(path, "w") as f:
                json.dump(_kept, f)

    atexit.register(_dump)
