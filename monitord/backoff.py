"""Capped exponential backoff with "equal jitter" (AWS architecture blog, "Exponential Backoff
And Jitter"): spreads reconnect storms when a broker or adapter comes back for many chairs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5  # fraction of the delay that is randomised
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        base = min(self.cap_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return base * (1 - self.jitter) + base * self.jitter * self._rng.random()

    def reset(self) -> None:
        self.attempts = 0
