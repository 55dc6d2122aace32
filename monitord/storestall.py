"""Technical alarm `store.stalled`: a write to the store that does not return.

An alert is committed to the store before it is published (durable before delivered), and
the commits run in the store's writer thread (monitord/store/writer.py). A disk that hangs
(an SD card that died mid-write, a stalled NFS mount: an fsync that never returns) holds
that thread, so every commit waits behind the hung one: before this watch the alarm then
reached neither MQTT nor the console nor `monitord status`, while the event loop, the chair
tasks and the watchdog pings went on as if all were well (systemd saw a healthy daemon).
Silently held, for as long as the disk hangs.

The watch runs on the event loop, outside the writer thread: when the job in the thread
has run for `storage.stall_alarm_after_s` (10 s), it raises `store.stalled` (CRITICAL in
the journal, `!!!` on the console, the side file `monitord status` reads: that file is
rewritten in place without a sync, monitord/techalarm.py) and treats the store like a
full disk (monitord/storeguard.py): every batch waiting for the thread, and each new one,
is told it is held, so its alarms show live on the console, in the retained MQTT active
set and on the annunciator, and a nurse's command is answered at once instead of waiting
for the disk. The trade-off against "durable before delivered": the active set goes out
before the alert is stored, as on a full disk; the alert *events* still go out only from
the store, in order with their stored ids, once the write returns (the station's event
history is late, never reordered or duplicated). When the thread is done with that job,
the store is written as usual again (the held batches are stored, their events published),
but the alarm stays up, its text saying the write returned, until writes have gone
normally (none running `stall_alarm_after_s`) for CLEAR_AFTER x `stall_alarm_after_s` (30 s)
since: hysteresis. It cleared at once before, and a disk whose every write hangs just over
the limit raised and cleared it every 10 s and a bit, a CRITICAL line and a "cleared" line
each time, while the disk was as bad as ever. A write that hangs again meanwhile holds the
batches again, under the same alarm (its text updated, no new line).

The watchdog keeps pinging: a restart cannot fix a hung disk (the new daemon hangs in its
first sync before READY, and what this one holds in memory is lost), so the daemon stays
up and says so (a stop does not wait for the disk: monitord/storestop.py). It sleeps until
the deadline of the job it sees running, so an idle or healthy store costs one wake every
half interval.
"""

from __future__ import annotations

import time

from monitord.aio import Doze
from monitord.store.writer import StoreWriter
from monitord.storebatch import tell_held
from monitord.storeguard import StoreGuard

KEY = "store.stalled"
# While stalled: how often it looks whether the write returned (a fault state only).
STALLED_LOOK_S = 0.25
# The alarm clears once writes went normally this many `after_s` after the hung one returned.
CLEAR_AFTER = 3


class StallWatch:
    def __init__(self, guard: StoreGuard, writer: StoreWriter, after_s: float) -> None:
        self.guard = guard
        self.writer = writer
        self.after_s = after_s
        self._since: float | None = None  # the hung job's start, while stalled
        self._back: float | None = None  # the alarm is up and the hung job returned then
        self._hangs = 0  # writes that hung under this alarm
        self._doze = Doze()  # nothing rouses it: a timed sleep

    def look(self, now: float) -> float:
        """Raise, keep or clear the alarm as the writer thread is now; return how long to
        sleep before the next look."""
        since = self.writer.busy_since
        if self._since is not None:
            if since == self._since:
                return STALLED_LOOK_S
            self._returned(now)
        if since is not None and now - since >= self.after_s:
            self._raise(since, now)  # the first hang, or one more under the alarm
            return STALLED_LOOK_S
        due = since + self.after_s - now + 0.01 if since is not None else self.after_s / 2
        if self._back is None:
            return due
        if now - self._back >= CLEAR_AFTER * self.after_s:
            self._clear()
            return due
        return min(due, self._back + CLEAR_AFTER * self.after_s - now + 0.01)

    def _raise(self, since: float, now: float) -> None:
        g = self.guard
        self._since, self._back = since, None
        self._hangs += 1
        g.stalled = True
        held = g.held
        events = sum(len(b.events) for b in held)
        g.alarms.raise_(
            KEY,
            f"the store {g.outbox.path} has not finished a write for {now - since:.0f} s "
            f"(the disk hangs?): {events} alert event(s) waiting; alerts show here and in "
            "the station's active list, but their events are neither stored nor sent until "
            "the disk answers; check the SD card or disk, watch the chair directly",
        )
        tell_held(held)  # their alarms shown live, their commands answered, from now

    def _returned(self, now: float) -> None:
        """The hung write returned: the store is written again; the alarm stays up until
        writes went normally for a while (a disk that hangs at every write: no flapping)."""
        assert self._since is not None
        took = now - self._since
        self._since, self._back = None, now
        self.guard.stalled = False
        wait = CLEAR_AFTER * self.after_s
        self.guard.alarms.raise_(
            KEY,
            f"the store {self.guard.outbox.path} finished a write after {took:.0f} s (the "
            f"disk hung; {self._hangs} hung write(s) so far); held alerts go out stored; "
            f"this alarm clears once writes have gone normally for {wait:.0f} s",
        )

    def _clear(self) -> None:
        wait = CLEAR_AFTER * self.after_s
        hangs, self._hangs, self._back = self._hangs, 0, None
        self.guard.alarms.clear(
            KEY,
            f"the store's writes have gone normally for {wait:.0f} s after {hangs} hung write(s)",
        )

    async def run(self) -> None:
        while True:
            await self._doze(self.look(time.monotonic()))
