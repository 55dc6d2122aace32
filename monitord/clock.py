"""Chair clocks. Real chairs run on wall time; simulated chairs on a virtual clock.

The alert engine never reads a clock: the chair task asks its clock what time it is and
feeds that to the engine as a tick. `now()` stamps readings (through the device context);
`horizon()` is the latest time up to which engine timers may fire.

A simulated chair (design.md section 2) runs `speed` times faster than wall time from
`start`. The scenario player keeps it exact: it announces the next scenario event's time,
and the clock never passes it until that event has been processed, so readings are stamped
with exactly `start + t` and a timer due at the same `t` fires after the input, as in
`monitord replay`.
"""

from __future__ import annotations

import math
import time


class WallClock:
    speed = 1.0

    def now(self) -> float:
        return time.time()

    def horizon(self) -> float:
        return time.time()

    def wall_delay(self, t: float) -> float:
        """Wall seconds until the clock reaches `t`."""
        return max(0.0, t - time.time())


class SimClock:
    def __init__(self, start: float, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._m0 = time.monotonic()
        self.next_event: float = start  # the clock may reach but not pass this
        self.final: float | None = None  # the scenario's `end`: the clock stops there

    def _free(self) -> float:
        return self.start + (time.monotonic() - self._m0) * self.speed

    def now(self) -> float:
        t = min(self._free(), self.next_event)
        return t if self.final is None else min(t, self.final)

    def horizon(self) -> float:
        if self.final is not None:
            return min(self._free(), self.final)
        # Timers due exactly at the pending event's time fire after it (clinical-rules.md).
        return min(self._free(), math.nextafter(self.next_event, -math.inf))

    def wall_delay(self, t: float) -> float:
        """Wall seconds until timers due at `t` may fire; inf while the player holds the
        clock short of `t` (it wakes the chair when it moves on)."""
        if self.final is not None:
            if t > self.final:
                return math.inf
        elif t >= self.next_event:
            return math.inf
        return self.free_delay(t)

    def free_delay(self, t: float) -> float:
        """Wall seconds until the free-running virtual time reaches `t` (for the player)."""
        return max(0.0, (t - self._free()) / self.speed)
