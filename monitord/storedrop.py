"""The log line of a commit the store refused for good (a bug, or a page gone bad:
storeguard's `_dropped`). A store found corrupt while running fails every commit after,
marks-only ones too, several a second: said at ERROR each time, that was a line a second
into the journal for hours, burying everything else. Now said at ERROR once, at DEBUG
in between, and at ERROR again at most once an hour with what was dropped since (the
house style: monitord/hangup.py, monitord/station/httplog.py). Nothing is lost from the
alarm: `store.unsound` / `store.dropped` are raised at every drop as before."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("monitord.store")

# Said at ERROR again after this long (the house style), with the drops in between counted.
SAY_AGAIN_AFTER_S = 3600.0


class DropLog:
    """`now`: a monotonic clock (not alert logic: no event time to go by)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.said_at: float | None = None
        self.commits = self.batches = self.events = 0  # dropped since said at ERROR

    def dropped(self, batches: int, events: int, what: str) -> None:
        t = self.now()
        if self.said_at is not None and t - self.said_at < SAY_AGAIN_AFTER_S:
            self.commits, self.batches, self.events = (
                self.commits + 1,
                self.batches + batches,
                self.events + events,
            )
            log.debug("store: %d batch(es), %d alert events, cannot be stored (%s): dropped "
                      "(said at ERROR %.0f s ago; again after an hour)",
                      batches, events, what, t - self.said_at)  # fmt: skip
            return
        more = (
            f" ({self.commits} more commit(s) refused since it was last said, "
            f"{self.batches} batch(es), {self.events} alert events dropped)"
            if self.commits
            else ""  # the first as it always read (the journal is searched for it)
        )
        log.error("store: %d batch(es), %d alert events, cannot be stored (%s): dropped%s",
                  batches, events, what, more)  # fmt: skip
        self.said_at, self.commits, self.batches, self.events = t, 0, 0, 0
