"""Chair clocks. Real chairs run on the daemon's receive time; simulated chairs on a
virtual clock.

The alert engine never reads a clock: the chair task asks its clock what time it is and
feeds that to the engine as a tick. `now()` stamps readings (through the device context);
`horizon()` is the latest time up to which engine timers may fire.

A real chair's clock (`WallClock`) is anchored once on the wall clock and then advanced by
the monotonic clock only (clinical-rules.md "Delivery of alarms"): a wall-clock step (NTP,
a Pi without RTC that boots with a wrong time, an operator) neither fires timers early nor
stalls them. It never goes back, also across restarts: it starts no earlier than the
previous run's last sign of life, and with a session or timer pending it keeps its offset
from the wall clock across a restart (the stored `row()`). It catches up with a wall clock
that stepped forward only while the chair has no timer pending and no HR/SpO2 run going
(`follow`, told by `AlertEngine.steady`), where a jump can fire or delay nothing; see
docs/reliability.md for what stored timestamps get meanwhile. Each stretch it runs off
the wall clock unfollowed is kept in its row (`offsets`), from this run's start or the
step seen before, since the times before a step were as far off: the session report shows
it (monitord/report/clockoff.py), since those timestamps are off UTC.

A simulated chair (design.md section 2) runs `speed` times faster than wall time from
`start`. The scenario player keeps it exact: it announces the next scenario event's time,
and the clock never passes it until that event has been processed, so readings are stamped
with exactly `start + t` and a timer due at the same `t` fires after the input, as in
`monitord replay`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: A difference between the wall clock and a chair clock above this is a step, not drift.
STEP_S = 2.0
#: How much later than its clock row a chair's last record can be (the row is rewritten
#: with its engine snapshot at least every 30 s while records flow, chair.SNAPSHOT_EVERY_S,
#: and on every step). A later "last sign of life" is a write stamped before the wall
#: clock stepped back: the store's rows keep the stamps they were written with.
ROW_LAG_S = 60.0
#: How many stretches off the wall clock `row()` keeps (`offsets`): a step is rare (a boot
#: without RTC, an operator); the oldest go first, past any store's retention by then.
MAX_OFFSETS = 50
#: The most a system clock can drift from UTC per second, NTP or not: the kernel corrects
#: its frequency by at most 500 ppm (adjtimex), and a Pi's crystal is well within it. A
#: step no larger than this since boot can be the drift of a clock NTP had kept right
#: (days without an answer, then a step of seconds), not a wrong clock since the run's
#: start: its stretch is not taken back past the look that saw it (`_mark`).
DRIFT_PER_S = 500e-6


class WallClock:
    speed = 1.0

    def __init__(
        self, floor: object = None, since: float | None = None, idle: bool = False
    ) -> None:
        """`floor`: the chair's stored `clock/<chair>` row (`row()`: its chair time and the
        wall time then; an older store's plain number is the chair time alone); `since`:
        the previous run's last sign of life on the wall clock (store/outages.py); `idle`:
        the restored engine has no session open, no timer pending and no HR/SpO2 run
        going (`AlertEngine.idle`)."""
        wall = time.time()
        self._base = wall
        #: The stretches of chair time during which the wall clock was off this clock by
        #: more than STEP_S and this clock did not follow it: [from, to or None while it
        #: lasts, wall minus chair seconds], `from` back to this run's start or the step
        #: seen before (`_mark`: the times before a step were as far off UTC). Stored with
        #: `row()` so the session report can say by how much its times are off UTC
        #: (monitord/report/clockoff.py).
        self.offsets: list[list[float | None]] = offsets_of(floor)
        self._reopen = False  # the last stretch was cut by a restart: same offset goes on
        #: The previous run's last sign of life on this chair's clock (the start of the
        #: outage), and whether the wall clock measured the time down.
        self.down_from: float | None = None
        self.downtime_known = True
        #: Chair seconds this clock leapt forward in this run, over time that did not pass
        #: (`leapt`).
        self._leapt = 0.0
        t, w = _row(floor)
        if t is not None and w is None:
            self._base = max(wall, t)  # no wall time stored with it: no earlier than it
            # The time down unknown, all it moved on counts as a leap (as below): a raise
            # held across the restart, read that much older, was phoned early.
            self._leapt = self._base - t
        elif t is not None and w is not None:
            lag = since - w if since is not None and math.isfinite(since) else 0.0
            lag = min(max(lag, 0.0), ROW_LAG_S)
            last_wall = w + lag
            self.down_from = t + lag
            # The wall clock behind the last sign of life: a Pi without RTC after a power
            # cut (or a clock set back); how long it was down is unknown.
            self.downtime_known = wall >= last_wall - STEP_S
            down = max(0.0, wall - last_wall) if self.downtime_known else 0.0
            ran = _ran(floor, lag)
            if self.downtime_known and ran is not None and abs(down - ran) > STEP_S:
                # Stopped on this boot, and the wall clock stepped meanwhile (an operator,
                # NTP after a quick restart): the monotonic clock says the time down. The
                # step counted as time down was no leap: a raise held across it read that
                # much older (an hour: phoned at once), and timers pending fired early.
                down = ran
            if idle:
                # Nothing pending for a jump to fire or delay: on the wall clock, never
                # back (a clock set ahead by mistake loses the time down, as it did).
                self._base = max(wall, self.down_from)
                # Past the previous run's clock gone on by the time measured down: a leap.
                self._leapt = max(0.0, self._base - (self.down_from + down))
            else:
                # Timers pending: the offset from the wall clock stays the chair's own (a
                # step it had not followed is still not followed, it would fire them at
                # the start, and so is one made while it was stopped) and the time down
                # counts as measured; not known, the clock goes on from where it was, in
                # its events' frame.
                self._base = self.down_from + down
            if self.offsets and self.offsets[-1][1] is None:
                # Open at the last sign of life: it ends there unless `follow` finds the
                # same offset again (a restart that kept it, timers pending).
                self.offsets[-1][1] = self.down_from
                self._reopen = True
        self._m0 = time.monotonic()
        #: Since when (chair time) this run's clock has kept its offset from the wall
        #: clock as far as it saw: the run's start, then each step seen (a stretch's start
        #: or end) or followed. Within a run the wall clock moves against this clock only
        #: by steps, so a stretch that opens is off UTC from here (`_mark`), not from the
        #: look that saw it: a Pi that booted behind was as far off before NTP stepped.
        self._since = self._base
        self._said = 0.0  # the wall-clock offset last reported by `follow`
        self._row_off: float | None = None  # the offset in the last `row()`

    def row(self) -> dict[str, Any]:
        """What the store keeps for the next start (`clock/<chair>`): this clock's time
        and the wall clock's at the same moment, so the next start keeps the offset, and
        the stretches it ran off the wall clock (`offsets`, for the session report)."""
        t, wall = self.now(), time.time()
        self._row_off = wall - t
        # The monotonic clock and the boot it counts from: a restart on the same boot
        # measures the time down on it, not on a wall clock that may step meanwhile.
        row: dict[str, Any] = {"t": t, "wall": wall, "mono": time.monotonic()}
        if (boot := boot_id()) is not None:
            row["boot"] = boot
        if self.offsets:
            row["offsets"] = [list(o) for o in self.offsets[-MAX_OFFSETS:]]
        return row

    def row_stale(self) -> bool:
        """The wall clock stepped (or this clock followed it) since the last `row()`: the
        next start would measure the time down across the step, so store it again now."""
        off = self._row_off
        return off is not None and abs(time.time() - self.now() - off) > STEP_S

    def now(self) -> float:
        return self._base + (time.monotonic() - self._m0)

    def leapt(self) -> float:
        """Chair seconds this clock leapt forward in this run over time that did not pass
        (a wall-clock step followed, a start onto the wall clock ahead of the last run's):
        a time before a leap read on this clock as an age is that much too old
        (sinks/mqtt_link.py `ChairLink.status`). Never decreases."""
        return self._leapt

    def horizon(self) -> float:
        return self.now()

    def wall_delay(self, t: float) -> float:
        """Wall seconds until the clock reaches `t`."""
        return max(0.0, t - self.now())

    def follow(self, idle: Callable[[float], bool]) -> str | None:
        """Check the wall clock against this clock; when `idle(now)` (no engine timer
        pending nor HR/SpO2 run going, so a jump fires or delays nothing) catch up with a
        wall clock that is ahead. `idle` is asked only once the clocks differ: this runs
        on every turn of every chair task. Returns a line to log once per step, else None."""
        now = self.now()
        off = time.time() - now
        if abs(off) <= STEP_S:
            self._said = 0.0
            self._mark(now, None)
            return None
        if off > 0 and idle(now):
            self._mark(now, None, followed=off)
            self._base += off
            self._leapt += off
            self._since = self.now()  # on the wall clock from here
            self._said = 0.0
            return f"wall clock stepped {off:+.0f} s; the chair clock followed (no timer pending)"
        self._mark(now, off)
        if abs(off - self._said) <= STEP_S:
            return None
        self._said = off
        return (
            f"wall clock is {off:+.0f} s off the chair clock; alert timers keep running on "
            "the chair clock, and so do timestamps"
            + (" until no alert timer is pending" if off > 0 else " (it never goes back)")
        )

    def _mark(self, now: float, off: float | None, followed: float | None = None) -> None:
        """Record that at `now` the wall clock is `off` seconds off this clock (None:
        within STEP_S, or `followed`, the step this clock follows now): the current
        stretch goes on while the offset stays within STEP_S of its own, else it ends at
        `now` and another begins, back at the last change this run saw (`_since`): the
        report takes the wall clock after a step as right, and this clock moved with it
        before the step, so it was as far off UTC then. Never before this run's start:
        the time down is no time of the stretch. A step followed as it is seen ends such
        a stretch at once (a session that ended before NTP answered was as far off).
        Neither for a step the clock's drift since boot could explain (`_not_drift`): it
        begins at `now`, and one followed at once keeps none."""
        last = self.offsets[-1] if self.offsets else None
        cur = last if last is not None and (last[1] is None or self._reopen) else None
        reopen, self._reopen = self._reopen, False
        if cur is not None and off is not None and abs(off - float(cur[2] or 0.0)) <= STEP_S:
            cur[1] = None  # goes on (across the restart that cut it)
            return
        if cur is not None and not reopen:
            cur[1] = now
            self._since = now
        if followed is not None and self._since < now and _not_drift(followed):
            self.offsets.append([self._since, now, followed])
            del self.offsets[:-MAX_OFFSETS]
        if off is not None:
            self.offsets.append([min(self._since, now) if _not_drift(off) else now, None, off])
            self._since = now
            del self.offsets[:-MAX_OFFSETS]


def _not_drift(off: float) -> bool:
    """Is a step of `off` seconds more than the system clock could have drifted since
    boot (DRIFT_PER_S)? Only then were the times before it as far off: a step of 5 s
    after a week without NTP on a Pi up for months was 0 s off at the run's start, and
    a stretch from there put a red TIMES OFF UTC line on every session of the run."""
    try:
        up = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # no CLOCK_BOOTTIME (not Linux): since boot too
        up = time.monotonic()
    return abs(off) > DRIFT_PER_S * up


def start_floor(row: object, engine_t: float | None, chair: str) -> object:
    """What a real chair's `WallClock` starts from: its stored `clock/<chair>` row, or
    with none the restored engine's latest time (`AlertEngine.latest`), as a plain number
    (no earlier than it). The row is written with the engine's snapshot, so one missing
    beside it was deleted (the fix docs/reliability.md gave for a clock set far ahead):
    the clock then started on the wall clock, behind the engine, and a session open kept
    its deadlines (overdue BP, 40-minute check) that far out: they never fired."""
    if row is not None or engine_t is None:
        return row
    if engine_t > time.time() + STEP_S:
        log.warning(
            f"{chair}: no clock row in the store: the chair clock starts at the restored "
            f"alert engine's time, {engine_t - time.time():+.0f} s off the wall clock "
            "(delete the engine row too, with no session open, to start on the wall clock)"
        )
    return engine_t


def offsets_of(floor: object) -> list[list[float | None]]:
    """The valid stretches of a stored row (`offsets`), in order; anything else dropped."""
    raw = floor.get("offsets") if isinstance(floor, dict) else None
    out: list[list[float | None]] = []
    for o in raw if isinstance(raw, list) else []:
        ok = isinstance(o, list) and len(o) == 3
        fr, to, off = (_num(x) for x in o) if ok else (None, None, None)
        if (
            fr is None
            or off is None
            or (to is None and o[1] is not None)
            or (to is not None and to < fr)
        ):
            continue
        out.append([fr, to, off])
    for o in out[:-1]:  # only the last can still be going on
        o[1] = o[0] if o[1] is None else o[1]
    return out[-MAX_OFFSETS:]


def _num(x: object) -> float | None:
    ok = isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None  # type: ignore[arg-type]


def boot_id() -> str | None:
    """This boot's id (Linux): a monotonic time stored in a row is comparable only on it."""
    global _BOOT
    if _BOOT is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                _BOOT = f.read().strip() or ""
        except OSError:
            _BOOT = ""
    return _BOOT or None


_BOOT: str | None = None


def _ran(floor: object, lag: float) -> float | None:
    """Monotonic seconds from the last sign of life (`lag` after the row) to now, when the
    row was written on this boot; else None (the wall clock measures the time down)."""
    if not isinstance(floor, dict) or floor.get("boot") != boot_id() or boot_id() is None:
        return None
    m = _num(floor.get("mono"))
    ran = None if m is None else time.monotonic() - (m + lag)
    return ran if ran is not None and ran >= 0.0 else None


def _row(floor: object) -> tuple[float | None, float | None]:
    """(chair time, wall time) of a stored `clock/<chair>` row; None for what is not a
    finite number (a row from an older version is the chair time alone)."""

    if isinstance(floor, dict):
        t = _num(floor.get("t"))
        return t, None if t is None else _num(floor.get("wall"))
    return _num(floor), None


class SimClock:
    def __init__(self, start: float, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._m0 = time.monotonic()
        #: Virtual seconds it jumped when the player let it on after holding it (`leapt`).
        self._jumped = 0.0
        #: Wall seconds it was held short of its free-running time, in segments before the
        #: current one (`leapt`), and when the current one began (wall seconds since `_m0`).
        self._held = 0.0
        self._seg = 0.0
        self._next_event = start
        self._final: float | None = None

    @property
    def next_event(self) -> float:
        """The clock may reach but not pass this (the player's next scenario event)."""
        return self._next_event

    @next_event.setter
    def next_event(self, t: float) -> None:
        self._cap(t, self._final)

    @property
    def final(self) -> float | None:
        """The scenario's `end`: the clock stops there."""
        return self._final

    @final.setter
    def final(self, t: float | None) -> None:
        self._cap(self._next_event, t)

    def _elapsed(self) -> float:
        return time.monotonic() - self._m0

    def _held_in_segment(self, e: float) -> float:
        """Wall seconds of the current segment (same caps) up to elapsed `e` during which
        the clock stood at its cap while its free-running time went on."""
        cap = self._next_event if self._final is None else min(self._next_event, self._final)
        reach = (cap - self.start) / self.speed  # elapsed when the free time reaches it
        return max(0.0, e - max(self._seg, reach))

    def _cap(self, next_event: float, final: float | None) -> None:
        e = self._elapsed()
        before = self._at(e)
        self._held += self._held_in_segment(e)
        self._seg = e
        self._next_event, self._final = next_event, final
        self._jumped += max(0.0, self._at(e) - before)

    def _free(self) -> float:
        return self.start + self._elapsed() * self.speed

    def _at(self, e: float) -> float:
        t = min(self.start + e * self.speed, self._next_event)
        return t if self._final is None else min(t, self._final)

    def now(self) -> float:
        return self._at(self._elapsed())

    def leapt(self) -> float:
        """Virtual seconds run beyond the wall's seconds, as `WallClock`: `speed - 1` for
        each wall second it ran free (at `speed` above 1), and each jump when the player
        let it on after holding it at an event (its free time went on meanwhile). Never
        decreases: a difference of two (sinks/mqtt_link.py `ChairLink.status`) bounds how
        much more it ran than the wall between them. As the clock less the wall time run,
        which falls while the clock is held (an event's effect awaited: up to 20 s, and
        for good at the scenario's end), a raise during a hold after the link went down
        was read as old as the hold more than it was (phoned that much early)."""
        e = self._elapsed()
        free = e - self._held - self._held_in_segment(e)
        return self._jumped + max(0.0, self.speed - 1.0) * free

    def horizon(self) -> float:
        if self.final is not None:
            return min(self._free(), self.final)
        # Timers due exactly at the pending event's time fire after it (clinical-rules.md).
        return min(self._free(), math.nextafter(self.next_event, -math.inf))

    def wall_delay(self, t: float) -> float:
        """Wall seconds until timers due at `t` may fire; inf while the player holds the
        clock short of `t` (it wakes the chair when it moves on)."""
        if self.final is not None:
            if t > self.final:
                return math.inf
        elif t >= self.next_event:
            return math.inf
        return self.free_delay(t)

    def free_delay(self, t: float) -> float:
        """Wall seconds until the free-running virtual time reaches `t` (for the player)."""
        return max(0.0, (t - self._free()) / self.speed)

    def follow(self, idle: Callable[[float], bool]) -> str | None:
        """Virtual time follows no wall clock."""
        return None
