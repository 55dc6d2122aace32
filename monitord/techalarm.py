"""Local technical alarms of the daemon itself (the store cannot be written, a bad store was
replaced, data was dropped for the disk budget): conditions a nurse or technician at the
chair must see even when the network and the disk are gone.

Each condition is said once at CRITICAL in the journal, on the console (`!!! ...`), and
kept in a small side file beside the store, `<store>.alarms`, that `monitord status`
reads. The side file is allocated once at start and rewritten in place, so it can still be
updated when the disk is full (a rewrite of allocated blocks needs no new ones), which is
exactly when the store itself cannot take the news. A failing SD card takes no write at
all (EIO, or EROFS once ext4 remounted it read-only): so the same document is also kept in
RAM, in the runtime directory (`$RUNTIME_DIRECTORY`, the unit's `RuntimeDirectory=`, else
/run/monitord when it exists), and `monitord status` reads the newer of the two.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitord.clock import boot_id
from monitord.models import iso

log = logging.getLogger("monitord.alarm")

ALARM_FILE_BYTES = 8192


def alarm_file(store: Path) -> Path:
    return store.with_name(store.name + ".alarms")


def runtime_directory() -> Path:
    """The daemon's directory in RAM: the unit's `RuntimeDirectory=` (a tmpfs under /run,
    emptied at every boot, kept across restarts: `RuntimeDirectoryPreserve=yes`), else
    /run/monitord (which may not exist outside systemd)."""
    return Path((os.environ.get("RUNTIME_DIRECTORY") or "/run/monitord").split(":")[0])


def store_key(store: Path) -> str:
    """A store's name in the runtime directory (one daemon per store)."""
    return hashlib.sha256(os.fsencode(os.path.realpath(store))).hexdigest()[:16]


def runtime_alarm_file(store: Path) -> Path:
    """The copy in RAM (a tmpfs: writable when the card is not), one per store."""
    return runtime_directory() / f"alarms-{store_key(store)}.json"


class TechAlarms:
    """Active technical conditions by key; `raise_` and `clear` are idempotent."""

    def __init__(self, console: Callable[[str], None] | None = None) -> None:
        self.console = console
        self.active: dict[str, dict[str, Any]] = {}
        self.cleared: dict[str, dict[str, Any]] = {}
        self._fds: list[int] = []  # the card's side file, then the copy in RAM
        # Told when a condition is raised or cleared (not when its text changes).
        self.on_change: Callable[[], None] | None = None

    def attach(self, store: Path) -> None:
        """Keep the side file beside `store` and its copy in RAM (each skipped where it
        cannot be written: no runtime directory outside systemd, a read-only card)."""
        ram = runtime_alarm_file(store)
        for path in (alarm_file(store), ram):
            try:
                fd = _open(path, replace=path == ram)
            except OSError as e:
                log.debug("no alarm side file %s: %s", path, e)
                continue
            try:
                os.posix_fallocate(fd, 0, ALARM_FILE_BYTES)
            except OSError as e:
                log.debug("cannot allocate %s: %s", path, e)
            self._fds.append(fd)
        self._write()

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

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
        if not self._fds:
            return
        doc = {
            "pid": os.getpid(),
            "updated": iso(time.time()),
            # Which copy is newer (`load_alarm_file`): a clock that cannot step back, of
            # this boot; `updated` is wall-clock time, which NTP may step back in a run.
            "boot": boot_id(),
            "mono": time.monotonic(),
            "active": self.active,
            "cleared": self.cleared,
        }
        data = json.dumps(doc).encode()
        if len(data) > ALARM_FILE_BYTES:
            doc["cleared"] = {}
            data = json.dumps(doc).encode()[:ALARM_FILE_BYTES]
        # In place, padded with spaces (valid JSON whitespace): no new block is needed.
        for fd in self._fds:
            try:
                os.pwrite(fd, data.ljust(ALARM_FILE_BYTES), 0)
            except OSError as e:
                log.debug("alarm side file not updated: %s", e)


def _open(path: Path, *, replace: bool) -> int:
    """`path` open for writing; `replace`: a file this user may not write (the RAM copy a
    run as another user left, root's by hand with the service stopped) is replaced, the
    runtime directory being ours: kept, it was never updated, and while the card failed
    `monitord status` showed that run's stale alarms or the card's, not the failure."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        if not replace:
            raise
    os.unlink(path)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)


def load_alarm_file(store: Path) -> dict[str, Any] | None:
    """What the daemon last wrote beside `store`, or None when there is no such file (or
    it holds nothing yet); OSError (e.g. PermissionError) or ValueError when it cannot be
    read: `monitord status` says so rather than show no technical alarms."""
    try:
        ram = _load(runtime_alarm_file(store))
    except (OSError, ValueError):
        ram = None  # not ours to read (root's RAM copy): the card's file says it
    try:
        card = _load(alarm_file(store))
    except (OSError, ValueError):
        if ram is None:
            raise
        card = None
    if ram is None or card is None:
        return card or ram
    # The newer: the card's stays behind while the card fails, the RAM one is gone
    # after a reboot; a tie (both written) is the same document.
    return card if newer(card, ram) else ram


def newer(card: dict[str, Any], ram: dict[str, Any]) -> bool:
    """The card's copy was written after the one in RAM. By the monotonic clock when both
    were written in one boot: by the wall clock (`updated`), a clock stepped back in a run
    (NTP correcting a Pi booted ahead) made the card's stale copy the newer, and `monitord
    status` showed it while the card failed, not the failure. Of two boots, the copy of
    this boot's is newer; the wall clock only for copies written before this was kept."""
    c, r = card.get("mono"), ram.get("mono")
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (c, r))
    if card.get("boot") and card.get("boot") == ram.get("boot") and numbers:
        return float(c) > float(r)  # type: ignore[arg-type]
    now = boot_id()
    if now is not None and (card.get("boot") == now) != (ram.get("boot") == now):
        return card.get("boot") == now
    return str(card.get("updated", "")) > str(ram.get("updated", ""))


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
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
