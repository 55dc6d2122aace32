"""Sinks drain the outbox to the outside world: InfluxDB (`influx`) and MQTT (`mqtt`).

Shared here: capped exponential backoff with jitter, and the "WARNING once, then DEBUG"
logging of repeated failures (bleak-retry-connector style), so a long outage leaves a
readable log rather than one line per retry.
"""

from __future__ import annotations

import logging
import random
import time


class Backoff:
    """Capped exponential backoff with jitter: base * 2^n, at most `cap`, times 0.5-1.0."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0

    def next_delay(self, at_least_s: float = 0.0) -> float:
        raw: float = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return max(at_least_s, raw * (0.5 + random.random() / 2))

    def reset(self) -> None:
        self.failures = 0


class FailureLog:
    """Logs the first failure of each class at WARNING (with operator advice), repeats of
    the same class at DEBUG, and the recovery at INFO with the outage length."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self._current: str | None = None
        self._since: float | None = None
        self.repeats = 0

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failure(self, cls: str, message: str, level: int = logging.WARNING) -> None:
        if self._since is None:
            self._since = time.monotonic()
        if cls != self._current:
            self._current = cls
            self.repeats = 0
            self.logger.log(level, "%s: %s", self.what, message)
        else:
            self.repeats += 1
            self.logger.debug("%s: %s (repeat %d)", self.what, message, self.repeats)

    def success(self, detail: str = "") -> None:
        if self._since is not None:
            self.logger.info(
                "%s: recovered after %.1f s%s",
                self.what,
                time.monotonic() - self._since,
                f"; {detail}" if detail else "",
            )
        self._current = None
        self._since = None
        self.repeats = 0
