"""The chairs' stretches off UTC as InfluxDB points (`clock_offset`), so a report `--from
influx` says when its times are off UTC as one from the chair's store does
(docs/report.md "Times off UTC", monitord/report/clockoff.py).

A stretch is kept in the chair's clock row (`clock/<chair>` in the store's `state`,
`WallClock.offsets`: chair time from, to or None while it lasts, wall minus chair
seconds), which the chair commits with its engine snapshot (SYNC). That row is the
queue: what it holds that this run has not yet had accepted by InfluxDB is due, and a new
run (after an outage, a restart) sends every stretch of it again. Not records of the
outbox: a new record type would mean rebuilding the store's `records` table (its type
CHECK) at a start, for a few points a year. Resending is an overwrite: a point is keyed
by its series (site, chair) and its time, the stretch's start, so a stretch that ends
(or, across a restart, goes on again) is rewritten in place.

Fields: `start` and `until` (ISO 8601, on the chair clock like every time of the
session; `until` is "" while the stretch goes on: always written, since an overwrite
keeps a field it does not write) and `offset_s` (seconds the system clock was ahead of
those times; negative: behind). Not `end` nor `offset`: both are InfluxQL keywords.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from monitord.clock import STEP_S, offsets_of
from monitord.outbox import Outbox
from monitord.sinks.lineproto import FieldValue, LineProtocolError, Point, encode
from monitord.store.codec import from_ns, seconds_to_ns

log = logging.getLogger("monitord.sinks.influx")

MEASUREMENT = "clock_offset"
# How often the sink's loop looks at the clock rows, which every chair rewrites with its
# engine snapshot (every event, every BP): a query and a parse at each of its passes
# (several a second under a burst of alarms) for what changes a few times a year. A
# stretch reaches InfluxDB within LOOK_S plus the sink's own delay; `wait_idle` looks at
# once.
LOOK_S = 10.0
_PREFIX = "clock/"

Key = tuple[str, int]  # (chair, the stretch's start in ns)


def _iso(ns: int) -> str:
    return from_ns(ns).isoformat().replace("+00:00", "Z")


def offset_line(site: str, chair: str, start: float, until: float | None, off: float) -> str:
    """One stretch as a line of the `clock_offset` measurement."""
    t_ns = seconds_to_ns(start)
    until_s = _iso(seconds_to_ns(until)) if until is not None else ""
    fields: dict[str, FieldValue | None] = {
        "start": _iso(t_ns),
        "until": until_s,
        "offset_s": off,
    }
    return encode(Point(MEASUREMENT, {"site": site, "chair": chair}, fields, t_ns))


class ClockOffsets:
    """What of the chairs' clock rows InfluxDB has not accepted yet in this run."""

    def __init__(self, outbox: Outbox, site: str) -> None:
        self.outbox = outbox
        self.site = site
        self._read: dict[str, int] = {}  # clock row -> its `updated_ns` when last read
        self._sent: dict[Key, str] = {}  # what InfluxDB accepted, by stretch
        self._due: dict[Key, str] = {}
        self._refusal_logged = False
        self._looked = -LOOK_S  # monotonic time of the last look (the first pass looks)

    def due(self, *, look: bool = True) -> list[tuple[Key, str]]:
        """The stretches to send: new or changed in a clock row since they were sent. A
        row is parsed only when it was rewritten (its stamp, read with one query). `look`
        False: the rows are looked at only if LOOK_S passed since the last look."""
        now = time.monotonic()
        if look or now - self._looked >= LOOK_S:
            self._looked = now
            self._look()
        return list(self._due.items())

    def _look(self) -> None:
        for key, ns in self.outbox.state_stamps(_PREFIX).items():
            if self._read.get(key) == ns:
                continue
            self._read[key] = ns
            chair = key[len(_PREFIX) :]
            stretches = offsets_of(self.outbox.get_state(key))
            # What was sent of the stretches the row no longer holds (it keeps the last
            # MAX_OFFSETS): never sent again, so not remembered either. Kept, it grew by
            # one line per clock step for as long as the daemon ran.
            starts = {seconds_to_ns(fr) for fr, _, _ in stretches if fr is not None}
            for k in [k for k in self._sent if k[0] == chair and k[1] not in starts]:
                del self._sent[k]
            for fr, to, off in stretches:
                if fr is None or off is None or abs(off) <= STEP_S:
                    continue
                try:
                    line = offset_line(self.site, chair, fr, to, off)
                except LineProtocolError as e:  # a chair id no tag can hold: never sent
                    log.debug("clock offset of %s not sent: %s", chair, e)
                    continue
                k = (chair, seconds_to_ns(fr))
                if self._sent.get(k) != line:
                    self._due[k] = line

    def _done(self, items: Sequence[tuple[Key, str]]) -> None:
        for k, line in items:
            self._sent[k] = line
            if self._due.get(k) == line:  # not rewritten meanwhile
                del self._due[k]

    async def flush(
        self,
        send: Callable[[Sequence[str]], Awaitable[None]],
        refused: tuple[type[Exception], ...],
    ) -> int:
        """Send what is due; returns how many points InfluxDB accepted. A failure in
        `refused` (the server refuses a point for good, e.g. one older than its retention
        policy, resent by a new run) drops that point, said once at WARNING; any other
        write error is raised for the sink's backoff, and the points stay due."""
        items = self.due(look=False)
        if not items:
            return 0
        try:
            await send([line for _, line in items])
        except refused as e:
            if len(items) == 1:
                self._refuse(items[0], str(e))
                return 0
            n = 0
            for item in items:  # a handful: one at a time finds the refused ones
                try:
                    await send([item[1]])
                except refused as e1:
                    self._refuse(item, str(e1))
                else:
                    self._done([item])
                    n += 1
            return n
        self._done(items)
        return len(items)

    def _refuse(self, item: tuple[Key, str], why: str) -> None:
        (chair, _), line = item
        level = logging.DEBUG if self._refusal_logged else logging.WARNING
        self._refusal_logged = True
        log.log(
            level, "InfluxDB refused the clock offset of %s for good: %s (%s)", chair, why, line
        )
        self._done([item])
