"""Logging: one structured line per record on stderr (journald adds its own timestamp).

Format: `LEVEL logger: message`, with a traceback (ERROR and above only) folded onto the
line. `FailureLog` implements the house rule for recurring failures: the first failure of a
kind at WARNING (with operator advice), repeats at DEBUG with a running count, and one INFO
line when it recovers.
"""

from __future__ import annotations

import logging
import sys
import time

_configured = False


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\n", " | ")
        if record.exc_info and record.levelno >= logging.ERROR:
            # Tracebacks only for real bugs (ERROR and above), folded to one line.
            exc = self.formatException(record.exc_info).replace("\n", " | ")
            msg += f" exc={exc}"
        return f"{record.levelname} {record.name}: {msg}"


def setup_logging(level: str = "INFO") -> None:
    global _configured
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        root.handlers[:] = [handler]
        _configured = True
    root.setLevel(level)
    # Third-party chatter stays out of the journal unless asked for.
    for noisy in ("bleak", "bumble", "aiomqtt", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class FailureLog:
    """Recurring failures of one thing (a device, a sink, a task) without flooding the
    journal: the first failure of each class at WARNING (or the level given) with operator
    advice, repeats of the same class at DEBUG with a count, the recovery at INFO with the
    outage length (bleak-retry-connector style)."""

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
