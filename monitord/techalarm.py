"""Local technical alarms of the daemon itself (the store cannot be written, a bad store was
replaced, data was dropped for the disk budget): conditions a nurse or technician at the
chair must see even when the network and the disk are gone.

Each condition is said once at CRITICAL in the journal, on the console (`!!! ...`), and
kept in a small side file beside the store, `<store>.alarms`, that `monitord status`
reads. The side file is allocated once at start and rewritten in place, so it can still be
updated when the disk is full (a rewrite of allocated blocks needs no new ones), which is
exactly when the store itself cannot take the news.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitord.models import iso

log = logging.getLogger("monitord.alarm")

ALARM_FILE_BYTES = 8192


def alarm_file(store: Path) -> Path:
    return store.with_name(store.name + ".alarms")


class TechAlarms:
    """Active technical conditions by key; `raise_` and `clear` are idempotent."""

    def __init__(self, console: Callable[[str], None] | None = None) -> None:
        self.console = console
        self.active: dict[str, dict[str, Any]] = {}
        self.cleared: dict[str, dict[str, Any]] = {}
        self._fd: int | None = None
        # Told when a condition is raised or cleared (not when its text changes).
        self.on_change: Callable[[], None] | None = None

    def attach(self, store: Path) -> None:
        """Keep the side file beside `store` (skipped where nothing can be written)."""
        path = alarm_file(store)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            log.debug("no alarm side file %s: %s", path, e)
            return
        try:
            os.posix_fallocate(fd, 0, ALARM_FILE_BYTES)
        except OSError as e:
            log.debug("cannot allocate %s: %s", path, e)
        self._fd = fd
        self._write()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def raise_(self, key: str, text: str, *, line: str | None = None) -> None:
        """Raise (or update the text of) condition `key`; said loudly the first time, as
        `line` on the journal and console when given (the delivery alarm keeps its own
        wording, which operators know), else as `TECHNICAL ALARM key: text`."""
        first = key not in self.active
        since = self.active.get(key, {}).get("since", iso(time.time()))
        self.active[key] = {"text": text, "since": since}
        self.cleared.pop(key, None)
        if first:
            said = line or f"!!! TECHNICAL ALARM {key}: {text}"
            log.critical(said.removeprefix("!!! "))
            if self.console is not None:
                self.console(said)
        self._write()
        if first and self.on_change is not None:
            self.on_change()

    def clear(self, key: str, text: str, *, line: str | None = None) -> None:
        cond = self.active.pop(key, None)
        if cond is None:
            return
        self.cleared[key] = {**cond, "text": text, "cleared": iso(time.time())}
        said = line or f"technical alarm {key} cleared: {text}"
        log.warning(said)
        if self.console is not None:
            self.console(said)
        self._write()
        if self.on_change is not None:
            self.on_change()

    def summary(self) -> str:
        return "; ".join(f"ALARM {k}" for k in self.active)

    def _write(self) -> None:
        if self._fd is None:
            return
        doc = {
            "pid": os.getpid(),
            "updated": iso(time.time()),
            "active": self.active,
            "cleared": self.cleared,
        }
        data = json.dumps(doc).encode()
        if len(data) > ALARM_FILE_BYTES:
            doc["cleared"] = {}
            data = json.dumps(doc).encode()[:ALARM_FILE_BYTES]
        # In place, padded with spaces (valid JSON whitespace): no new block is needed.
        try:
            os.pwrite(self._fd, data.ljust(ALARM_FILE_BYTES), 0)
        except OSError as e:
            log.debug("alarm side file not updated: %s", e)


def load_alarm_file(store: Path) -> dict[str, Any] | None:
    """What the daemon last wrote beside `store`, or None when there is no such file (or
    it holds nothing yet); OSError (e.g. PermissionError) or ValueError when it cannot be
    read: `monitord status` says so rather than show no technical alarms."""
    try:
        data = alarm_file(store).read_bytes()
    except FileNotFoundError:
        return None
    text = data.decode("utf-8", "replace").strip()
    doc = json.loads(text) if text else None
    if doc is not None and not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def read_alarm_file(store: Path) -> dict[str, Any] | None:
    """What the daemon last wrote beside `store`, or None (also when unreadable)."""
    try:
        return load_alarm_file(store)
    except (OSError, ValueError):
        return None
