"""Unique event-time stamps per series (monitord/outbox.py "Timestamps").

InfluxDB keys a point by series and timestamp: two records of one series stored with one
`t_ns` leave one point there, the later, while the outbox marks both delivered. So a
colliding stamp is moved on by a few ns. A stuck device clock (every BP at one device
time, all of them taken: monitord/history.py) collides on every reading, so three
bounded memories are checked, and nothing is asked of the file after the first stamp:

- the **window**: the stamps given per series in this run that a later reading of the
  series can still take: every one within `HORIZON_NS` of the highest given (a reading
  is stamped with its device time only within `MAX_DEVICE_SKEW_S` of its receive time,
  which never steps back in a run, so no later reading goes lower), and the last `WINDOW`
  in any case. A device clock set back a few minutes (a monitor swapped for one whose
  clock is behind, or a clock corrected) stamps its readings on device times its
  readings of those minutes had: the window once held the last 256 only, 4.5 min of a
  1-Hz oximeter, and each later reading took an earlier one's stamp (InfluxDB kept one
  point of the two: tests/faults/test_swap_clock_behind.py). At most `KEPT_MAX` per
  series (a device flooding readings), past which the oldest go;
- the **bases**: per series, the stamps that collided (the device time of a stuck clock)
  and the last stamp given for each, an LRU of `BASES`: the next reading at that time
  goes on from there (t, t+1, ... t+300) however far it is past the window;
- the **stored** stamps: those of the newest `RESTART_IDS` records of the file, read in
  one pass at the daemon's start (`load`) or else at the first stamp of a run, so the first BP
  after a restart does not take the stamp of the one before it. Never evicted; bounded
  by the pass. A stuck stamp older than that (a busy store, or a restart hours after the
  last reading of that time) can still collide: docs/reliability.md says so.

A rolled-back write (a full disk) is retried and must get the same stamps: `undo` puts
the window and the bases back as they were at the transaction's start; `kept` forgets
the journal at its commit.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

from monitord.models import MAX_DEVICE_SKEW_S

# A series: ("reading", chair, device), ("alert", chair, rule, priority, kind) or
# ("session", chair, protocol): InfluxDB's series or coarser (a coarser key only moves a
# stamp more often than needed, by a few ns).
Series = tuple[str, ...]

WINDOW = 256
# A reading's stamp is its device time within MAX_DEVICE_SKEW_S of its receive time, else
# the receive time (models.authoritative_time): a stamp given now is at most the skew
# above its receive time, and any later one at least the skew below a later receive
# time, so one more than twice the skew below the highest stamp given is never taken
# again in this run. ~1,200 stamps per series at a 1-Hz device's two kinds.
HORIZON_NS = int((2 * MAX_DEVICE_SKEW_S + 1) * 1e9)
KEPT_MAX = 16384  # per series: the horizon at ~27 readings a second
BASES = 64
# Records read at the daemon's start: they must reach back past a restart plus a cuff's
# interval (10 min, the BP after the restart has the stuck time of the one before it) on
# a Pi of four chairs at docs/scaling.md's load, HR and SpO2 at 1 Hz: 8 readings a second.
# 16,384 rows are ~34 min of four chairs, ~2.3 h of one. (4096, sized for ~0.7 readings/s
# per chair, a 30-day average, were ~8.5 min of four: a restart late in a cuff's cycle
# lost a BP in InfluxDB.) The pass has SQLite pick out each reading's device (no
# Python json.loads of every body): ~30 ms for 16,384 rows on a dev machine, ~1 MB of
# stamps kept; a daemon pays it at its start (`load`, from StoreBase.use_writer).
RESTART_IDS = 16384

_NONE: frozenset[int] = frozenset()


class Stamps:
    def __init__(self, load: Callable[[], dict[Series, set[int]]]) -> None:
        """`load()`: the stored stamps per series of the newest records, asked once."""
        self._load = load
        self._stored: dict[Series, set[int]] | None = None
        self._recent: dict[Series, deque[int]] = {}
        self._recent_sets: dict[Series, set[int]] = {}
        self._bases: dict[Series, OrderedDict[int, int]] = {}
        self._top: dict[Series, int] = {}  # the highest stamp given per series
        # Since the transaction began: (series, stamp given, stamps evicted from the
        # window, the series' highest stamp before) and each changed series' bases as
        # they were (None: it had none).
        self._journal: list[tuple[Series, int, tuple[int, ...], int | None]] = []
        self._bases_were: dict[Series, OrderedDict[int, int] | None] = {}

    def load(self) -> None:
        """Read the stored stamps now (a daemon's start, before any chair runs), not at the
        first stamp, which may be an alarm's commit on the writer thread."""
        if self._stored is None:
            self._stored = self._load()

    def unique(self, key: Series, t_ns: int) -> int:
        """`t_ns`, or the first stamp after it that no record of series `key` has."""
        if self._stored is None:
            self._stored = self._load()
        dq = self._recent.get(key)
        if dq is None:
            dq = self._recent[key] = deque()
            self._recent_sets[key] = set()
        seen = self._recent_sets[key]
        stored = self._stored.get(key, _NONE)
        base = t_ns
        bases = self._bases.get(key)
        if bases is not None and (last := bases.get(base)) is not None:
            # Every stamp from `base` to `last` was given or found taken: go on from there.
            t_ns = last + 1
        while t_ns in seen or t_ns in stored:
            t_ns += 1
        if t_ns != base:
            self._note_base(key, base, t_ns)
        dq.append(t_ns)
        seen.add(t_ns)
        top_was = self._top.get(key)
        top = self._top[key] = t_ns if top_was is None or t_ns > top_was else top_was
        evicted: list[int] = []
        # Oldest given first: one given earlier but higher (a device clock ahead, then
        # set right) keeps those after it a while longer, never the other way round.
        while len(dq) > WINDOW and (dq[0] < top - HORIZON_NS or len(dq) > KEPT_MAX):
            e = dq.popleft()
            seen.discard(e)
            evicted.append(e)
        self._journal.append((key, t_ns, tuple(evicted), top_was))
        return t_ns

    def _note_base(self, key: Series, base: int, given: int) -> None:
        bases = self._bases.get(key)
        if key not in self._bases_were:  # once per transaction: <= BASES entries
            self._bases_were[key] = None if bases is None else bases.copy()
        if bases is None:
            bases = self._bases[key] = OrderedDict()
        bases[base] = given
        bases.move_to_end(base)
        if len(bases) > BASES:
            bases.popitem(last=False)

    def kept(self) -> None:
        """The transaction committed: its stamps stay given."""
        self._journal.clear()
        self._bases_were.clear()

    def undo(self) -> None:
        """The transaction rolled back: its stamps were never given."""
        for key, t_ns, evicted, top_was in reversed(self._journal):
            dq, seen = self._recent[key], self._recent_sets[key]
            dq.pop()
            seen.discard(t_ns)
            for e in reversed(evicted):
                dq.appendleft(e)
                seen.add(e)
            if top_was is None:
                del self._top[key]
            else:
                self._top[key] = top_was
        for key, was in self._bases_were.items():
            if was is None:
                self._bases.pop(key, None)
            else:
                self._bases[key] = was
        self.kept()
