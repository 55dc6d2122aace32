"""Stored records and repeats: which BP readings are history and which are live.

clinical-rules.md ("Precise semantics", last paragraphs): a measurement a device pushes
from its memory is history (stored, marked `stored`, reported, fed to no rule); a record
repeating one already taken (same device time *and* values) is a repeat and is dropped;
a stuck or unset device clock never hides a new measurement; when in doubt a reading is
live. The device clock's absolute value is never trusted, only compared for identity.

How the hub tells them apart, per device (`ChairRuntime.process()` calls this module):

- **Repeat**: a BP reading, or another discrete record a device may push again (a PLX
  spot-check, marked `record` by its decoder), with a device time whose (device, device
  time, values) key was taken before. The keys are kept in the store (`bp-seen/<chair>`,
  with the engine snapshot) so an IntelliVue re-polled or a cuff or oximeter re-pushing
  its memory after a restart is still recognised. Without a device time nothing can be
  recognised: never a repeat. Nor once the device's clock is seen stuck: two different
  measurements taken at one device time (a cuff whose clock stopped or was never set and
  does not run). From then on its device time says nothing, so an identical re-measure
  (the confirming second reading of a BP rule) would be dropped as a repeat of the first:
  its records are taken as new (when in doubt, live), the burst still tells its memory.
  Told by the keys themselves, so a restart knows it too. Stream samples (a serial
  oximeter's 1-s lines, whose device clock may be stuck) are never records, so never
  repeats: this module, not the transport, is where every "is this measurement new?" is
  answered.
- **Burst**: cuffs push their memory as a quick run of indications right after a
  connection (oldest first, the new measurement last). A BP record arriving within
  `BURST_OPEN_S` of the device's link coming up (or while its link is not up yet) opens
  the connection's burst; records following within `BURST_GAP_S` of each other belong to
  it. Repeats count as the burst's records for its timing though they are dropped: a
  cuff re-pushing a memory the chair has taken sends those first, and what it measured
  while nobody received it comes after them, more than `BURST_OPEN_S` after the
  connection when the memory is long (one indication per connection event or slower):
  such a record, of the patient before maybe, was live at once (a 205/125 of patient A
  raised a latched `bp.crisis` for patient B). So a run of repeats from the connection on
  keeps the window open while each follows the last within `BURST_GAP_S`. Repeats never
  keep a burst going once it has begun: only new records do. A device that goes on
  re-sending what it sent (its newest record every second, a memory pushed newest
  first) would otherwise hold the burst's live record for as long as it re-sends, with
  no bound but the link, and make it history when its next measurement came meanwhile
  (a 205/125 never raised `bp.crisis`). The burst is held until it ends (a quiet gap,
  the link going down, or shutdown); then its newest record (the last to arrive) is live
  and the others are `stored`. One burst per connection; later records are live at
  once, never delayed.
  Timing is monotonic wall time: a burst is a transport phenomenon, not clinical time.
  A record that arrives late, after the burst ended, is taken as live (when in doubt,
  live); the cost of holding is at most `BURST_GAP_S` after the burst's last new record,
  on the first reading after a connection.

- **Told by the device**: a record its device marks as sent from its memory (the PLX
  measurement status "Measurement From Storage", `FROM_STORAGE`, on a spot-check) is
  history whatever its timing: an oximeter that keeps its spot-checks sends them again to a hub that
  connects, each so marked, and one the chair had not taken (an earlier patient's 88 %)
  went in as the patient's live SpO2 and withdrew `session.discharge_ready`. No doubt
  there: the device says so (`as_told`, applied by monitord/chair_records.py to every
  reading it gives out).

Pure bookkeeping: no I/O, no clock reads (callers pass `mono`); the daemon persists
`seen_keys()` and counts what `repeats` and `stored` say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from monitord.models import FROM_STORAGE, Kind, Reading

BURST_OPEN_S = 5.0  # a cuff starts pushing its memory this soon after the connection
BURST_GAP_S = 2.0  # consecutive records of one burst (indications) are this close
SEEN_MAX = 256  # remembered BP measurements per chair (a cuff keeps ~30-200)


def seen_key(r: Reading) -> str | None:
    """`device|device time|values`: what makes a record the same measurement. None
    when it has no device time (then nothing can be recognised as a repeat)."""
    if r.device_time is None:
        return None
    vals = ",".join(
        f"{k}={'-' if v is None else repr(float(v))}" for k, v in sorted(r.values.items())
    )
    return f"{r.device}|{r.device_time.isoformat()}|{vals}"


def legacy_key(device: str, device_time: datetime) -> str:
    """The pre-values key format (`device|device time`) of older `bp-seen` states."""
    return f"{device}|{device_time.isoformat()}"


def upgrade_keys(
    keys: Iterable[str], recent: Callable[[], Iterable[Reading]]
) -> tuple[list[str], int]:
    """`bp-seen` as stored (either format) -> keys in the current format.

    An old key names a device and a device time but not the values: it is resolved with
    the stored BP readings `recent()` returns (the measurement taken then; only asked for
    when there is an old key); one that no stored reading resolves is dropped (a repeat of
    it is then taken once more, which is better than hiding a new measurement behind a
    stuck clock). Returns (keys, unresolved)."""
    keys = list(keys)
    legacy = {k for k in keys if k.count("|") == 1}
    if not legacy:
        return keys, 0
    resolved: dict[str, str] = {}
    for r in recent():
        if r.kind == Kind.BP and r.device_time is not None and not r.stored:
            old = legacy_key(r.device, r.device_time)
            k = seen_key(r)
            if old in legacy and k is not None:
                resolved.setdefault(old, k)
    out = [resolved.get(k, k) if k in legacy else k for k in keys]
    out = [k for k in out if k.count("|") != 1]
    return out, len(legacy) - len(resolved)


def _stuck_devices(keys: Iterable[str]) -> set[str]:
    """The devices with two keys at one device time (different values): a stuck clock."""
    times: set[str] = set()
    stuck: set[str] = set()
    for k in keys:
        at = k.rsplit("|", 1)[0]
        if at.count("|") == 1:  # `device|device time` (a legacy key has no values part)
            if at in times:
                stuck.add(at.split("|", 1)[0])
            times.add(at)
    return stuck


@dataclass
class _Dev:
    up_at: float | None = None  # mono time of the last link up; None = not up
    burst: list[Reading] = field(default_factory=list)
    last: float = 0.0  # mono time of the burst's last record (never a repeat)
    open: bool = False  # this connection may still start its burst
    # mono time of the last repeat of the connection's opening run (None: none yet): the
    # run keeps the window open while its records follow each other (module docstring).
    run: float | None = None

    def opening(self, mono: float) -> bool:
        """Whether a record now starts this connection's burst (none held yet)."""
        if not self.open or self.burst:
            return False
        if self.up_at is None or mono - self.up_at <= BURST_OPEN_S:
            return True
        return self.run is not None and mono - self.run <= BURST_GAP_S


class StoredRecords:
    """Per chair: drops repeats, holds connection bursts, marks their history `stored`."""

    def __init__(self, seen: Iterable[str] = ()) -> None:
        self._seen: dict[str, None] = dict.fromkeys(seen)
        self._devs: dict[str, _Dev] = {}
        #: Devices whose clock is stuck (two measurements at one device time): nothing of
        #: theirs is a repeat. Only ever grows: a clock seen stuck is not trusted again.
        self.stuck: set[str] = _stuck_devices(self._seen)
        self.dirty = False  # `seen_keys()` changed since the last save
        self.repeats = 0
        self.stored = 0

    def seen_keys(self) -> list[str]:
        return list(self._seen)

    def _dev(self, device: str) -> _Dev:
        d = self._devs.get(device)
        if d is None:
            # Not reported up yet: records now come from a connection being set up.
            d = self._devs[device] = _Dev(open=True)
        return d

    # -- inputs ------------------------------------------------------------------------
    def as_told(self, r: Reading) -> Reading:
        """`r`, marked `stored` (and counted) when its device says this record comes from
        its memory (`FROM_STORAGE` in its flags): history, whatever its timing or key.
        Only a discrete record (`record`: a spot-check): a stream sample so marked is
        still live (when in doubt, live: a firmware setting the bit on its live stream
        would otherwise silence every SpO2 alarm and `tech.sensor_off` with it)."""
        if r.stored or not r.record or FROM_STORAGE not in r.flags:
            return r
        self.stored += 1
        return replace(r, stored=True)

    def link(self, device: str, up: bool, mono: float) -> list[Reading]:
        """A device's link went up (also a repeated up: a new connection of a cuff that
        hangs up between measurements) or down. Returns the burst it ends, if any."""
        d = self._dev(device)
        out = self._end(d) if d.burst else []
        d.up_at, d.open, d.run = (mono, True, None) if up else (None, True, None)
        return out

    def offer(self, r: Reading, mono: float) -> tuple[list[Reading], bool]:
        """A reading from a device. Returns (readings to process now, is_repeat): a
        repeat is dropped (counted); a burst record is held (nothing to process yet)."""
        if r.kind != Kind.BP:
            if not r.record:
                return [r], False  # a stream sample: new by definition
            # A spot-check: taken at once (no bursts: only cuffs push their memory in a
            # run that ends in the new measurement), dropped when re-sent.
            spot = seen_key(r)
            if spot is not None and r.device not in self.stuck and spot in self._seen:
                self.repeats += 1
                return [], True
            self._remember([r])
            return [r], False
        key = None if r.device in self.stuck else seen_key(r)
        d = self._dev(r.device)
        if key is not None and (key in self._seen or any(seen_key(h) == key for h in d.burst)):
            self.repeats += 1
            # A run of repeats keeps the connection's window open, never a burst begun
            # (`opening` is False then): re-sends must not hold its live record (module
            # docstring, "Burst").
            if d.opening(mono):
                d.run = mono
            return [], True
        out = self.due(mono, only=r.device)
        if d.burst or d.opening(mono):
            d.burst.append(r)
            d.last = mono
            return out, False
        d.open = False
        self._remember([r])
        return [*out, r], False

    def _remember(self, rs: list[Reading]) -> None:
        # Only once released to the hub: a key saved for a record still held (and lost
        # in a crash) would make its re-push look like a repeat.
        for r in rs:
            key = seen_key(r)
            if key is not None:
                if r.device not in self.stuck and key not in self._seen:
                    at = key.rsplit("|", 1)[0] + "|"  # `device|device time|`
                    if any(k.startswith(at) for k in self._seen):
                        self.stuck.add(r.device)
                self._seen[key] = None
                self.dirty = True
        while len(self._seen) > SEEN_MAX:
            del self._seen[next(iter(self._seen))]

    def due(self, mono: float, only: str | None = None) -> list[Reading]:
        """Bursts that went quiet for `BURST_GAP_S`, resolved (stored first, then live)."""
        out: list[Reading] = []
        for name, d in self._devs.items():
            if only is not None and name != only:
                continue
            if d.burst and mono - d.last > BURST_GAP_S:
                out += self._end(d)
            elif d.up_at is not None and d.open and not d.burst and not d.opening(mono):
                d.open = False
        return out

    def flush(self) -> list[Reading]:
        """Every held burst, resolved (shutdown: nothing held is lost)."""
        out: list[Reading] = []
        for d in self._devs.values():
            if d.burst:
                out += self._end(d)
        return out

    def next_due(self) -> float | None:
        """Mono time when a held burst ends if nothing more arrives."""
        dues = [d.last + BURST_GAP_S for d in self._devs.values() if d.burst]
        return min(dues, default=None)

    @property
    def holding(self) -> int:
        return sum(len(d.burst) for d in self._devs.values())

    def _end(self, d: _Dev) -> list[Reading]:
        burst, d.burst, d.open = d.burst, [], False
        self.stored += len(burst) - 1
        self._remember(burst)
        return [replace(r, stored=True) for r in burst[:-1]] + [burst[-1]]
