"""Capped exponential backoff with jitter, the one implementation every reconnect loop uses
(serial and BLE links, sinks, the supervisor).

The delay for the n-th retry is drawn from [lo, hi] with hi = min(cap, base * 2^n):
"equal jitter" (lo = hi/2, the default) keeps delays growing while spreading reconnect
storms when a broker or adapter comes back for many chairs; "full jitter" (lo = 0, with a
small floor) spreads them widest. See the AWS architecture blog, "Exponential Backoff And
Jitter".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def capped_delay(
    attempt: int,
    base_s: float,
    cap_s: float,
    rng: random.Random | None = None,
    *,
    low_frac: float = 0.5,
    floor_s: float = 0.0,
) -> float:
    hi = min(cap_s, base_s * 2.0 ** min(attempt, 30))
    lo = max(hi * low_frac, min(floor_s, hi))
    return (rng or random).uniform(lo, hi)


@dataclass
class Backoff:
    """Stateful: counts attempts until `reset()` (after a success)."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self, at_least_s: float = 0.0) -> float:
        """The next delay; `at_least_s` honours a server's Retry-After."""
        d = capped_delay(self.attempts, self.initial_s, self.cap_s, self.rng)
        self.attempts += 1
        return max(at_least_s, d)

    def reset(self) -> None:
        self.attempts = 0
