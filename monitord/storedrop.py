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
# Causes quieted each on its own (their counts kept for their next line): a cause whose
# text varies (a row id in it) must not make a line a second again, so past this many
# causes the others are quieted as one.
MAX_CAUSES = 8


class _Cause:
    def __init__(self, at: float) -> None:
        self.said_at = at
        self.commits = self.batches = self.events = 0  # dropped since said at ERROR


class DropLog:
    """`now`: a monotonic clock (not alert logic: no event time to go by). Each cause (the
    error's text) is said at ERROR the first time: quieted together, a second bug within
    the hour (another chair's alarm lost) was at DEBUG only, and the journal the
    technical alarm `store.dropped` sends the admin to never said what dropped it."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.causes: dict[str, _Cause] = {}

    def dropped(self, batches: int, events: int, what: str) -> None:
        t = self.now()
        key = what if what in self.causes or len(self.causes) < MAX_CAUSES else ""
        c = self.causes.get(key)
        if c is not None and t - c.said_at < SAY_AGAIN_AFTER_S:
            c.commits, c.batches, c.events = c.commits + 1, c.batches + batches, c.events + events
            log.debug("store: %d batch(es), %d alert events, cannot be stored (%s): dropped "
                      "(said at ERROR %.0f s ago; again after an hour)",
                      batches, events, what, t - c.said_at)  # fmt: skip
            return
        more = (
            f" ({c.commits} more commit(s) refused since it was last said, "
            f"{c.batches} batch(es), {c.events} alert events dropped)"
            if c is not None and c.commits
            else ""  # the first as it always read (the journal is searched for it)
        )
        log.error("store: %d batch(es), %d alert events, cannot be stored (%s): dropped%s",
                  batches, events, what, more)  # fmt: skip
        self.causes[key] = _Cause(t)
