"""A chair's batch as the engine must see it (extracted from monitord/chair.py): stored
records re-sent by a device dropped as repeats (counted, told once per device and
connection), connection bursts held back until they end, and ended bursts put in with
their history marked `stored`. The bookkeeping itself is monitord/history.py.
"""

from __future__ import annotations

import logging
import time

from monitord.chair_inputs import Item, LinkChange
from monitord.console import n
from monitord.history import StoredRecords
from monitord.models import Kind, Reading

log = logging.getLogger("monitord")


class StoredSort:
    """Sorts one chair's batches around its `StoredRecords`."""

    def __init__(self, chair: str, history: StoredRecords) -> None:
        self.chair = chair
        self.history = history
        self._repeat_logged: set[str] = set()

    def sort(self, batch: list[Item], closing: bool) -> list[Item]:
        """The batch with repeats dropped, connection bursts held back until they end,
        and ended bursts put in (their history marked `stored`), see monitord/history.py.
        `closing` (shutdown): a held burst resolves now."""
        mono = time.monotonic()
        out: list[Item] = []
        for item in batch:
            if isinstance(item, Reading):
                ready, repeat = self.history.offer(item, mono)
                if repeat:
                    self._log_repeat(item)
                out += ready
                continue
            if isinstance(item, LinkChange):
                out += self.history.link(item.device, item.up, mono)
                self._repeat_logged.discard(item.device)
            out.append(item)
        out += self.history.flush() if closing else self.history.due(mono)
        return out

    def _log_repeat(self, r: Reading) -> None:
        # Counted always (status); told once per device and connection, then DEBUG: a
        # cuff re-pushes its whole memory on every connection.
        what = (
            f"BP {n(r.values.get('sys_mmHg'))}/{n(r.values.get('dia_mmHg'))}"
            if r.kind == Kind.BP
            else f"{r.kind} " + " ".join(f"{k}={n(v)}" for k, v in r.values.items())
        )
        text = (
            f"{self.chair}/{r.device}: {what} measured at "
            f"{r.device_time.isoformat() if r.device_time else '?'} already taken; repeat "
            f"ignored ({self.history.repeats} so far)"
        )
        if r.device in self._repeat_logged:
            log.debug(text)
        else:
            self._repeat_logged.add(r.device)
            log.info(text)
