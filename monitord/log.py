"""Logging: one structured line per record on stderr (journald adds its own timestamp).

Format: `LEVEL logger: message key=value ...`. `FailureLog` implements the house rule for
recurring failures: the first failure of a kind at WARNING (with operator advice), repeats
at DEBUG with a running count, and one INFO line when it recovers.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

_configured = False


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\n", " | ")
        extra = getattr(record, "kv", None)
        if extra:
            msg += " " + " ".join(f"{k}={v}" for k, v in extra.items())
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
    """Log recurring failures of one thing (a device, a sink) without flooding the journal."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.kind: str | None = None
        self.count = 0

    def failed(self, kind: str, message: str, advice: str = "", **kv: Any) -> None:
        if kind != self.kind:
            self.kind, self.count = kind, 1
            text = f"{self.what}: {message}" + (f" ({advice})" if advice else "")
            self.logger.warning(text, extra={"kv": kv} if kv else None)
        else:
            self.count += 1
            self.logger.debug(
                f"{self.what}: {message} (repeat {self.count})", extra={"kv": kv} if kv else None
            )

    def recovered(self, message: str = "recovered") -> None:
        if self.kind is not None:
            self.logger.info(f"{self.what}: {message} after {self.count} failure(s)")
        self.kind, self.count = None, 0
