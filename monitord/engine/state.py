"""The engine's state of one chair, typed.

Plain data only (no rule logic): monitord/engine/snapshot.py turns it into the JSON a
restarted daemon reads back, in the format written since snapshot version 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Event times are seconds as binary floats: live, receive times in whole microseconds; in
# replay, the scenario's decimals. Their sums and differences are off by up to a few units
# in the last place (16.4 - 1.4 = 14.999999999999998, 0.577 + 30 = 30.576999999999998), so
# a boundary the rules fix ("for 15 s", "more than 10 s apart", a timer due at the same t
# as an input) went either way by rounding. The engine's time resolution is TIME_RES:
# deadlines are kept rounded to it (`ChairState.set_timer`) and durations compared with
# TIME_EPS of slack, half of it (above the rounding error of epoch times, ~2.4e-7 s).
TIME_RES = 1e-6
TIME_EPS = TIME_RES / 2


def on_grid(t: float) -> float:
    """`t` on the engine's TIME_RES (1-us) grid: what every deadline is kept on."""
    return round(t, 6)


class TimerKind(enum.StrEnum):
    """What a timer is for. The values are the names snapshot version 1 used (keyed kinds
    were written as `"<value>|<subject>"`), and their order is the tie-break between
    timers due at the same time with the same rule rank, so keep them as they are."""

    DISCHARGE_OBSERVED = "dis_obs"  # session.discharge_ready: observation time met
    DISCHARGE_SPO2 = "dis_spo2"  # session.discharge_ready: low-SpO2 window over
    ESCALATE = "esc"  # subject: the alert key
    DEVICE_LOST = "lost"  # subject: the device
    CHECK_MISSED = "missed"  # session.check_missed window end
    BP_OVERDUE = "overdue"  # tech.bp_overdue
    SENSOR_OFF = "sensor"  # subject: the signal (hr, spo2)


#: Kinds with a subject (written `"kind|subject"` in a snapshot).
KEYED_TIMERS = frozenset({TimerKind.ESCALATE, TimerKind.DEVICE_LOST, TimerKind.SENSOR_OFF})


class TimerKey(NamedTuple):
    """A timer's identity. Tuples compare like the version-1 names they replace
    (`"esc|bp.crisis"` < `"lost|nibp"`), so simultaneous timers still fire in the same
    order."""

    kind: TimerKind
    subject: str = ""

    def name(self) -> str:
        """The snapshot (version 1) name of this timer."""
        return f"{self.kind.value}|{self.subject}" if self.kind in KEYED_TIMERS else self.kind.value

    @classmethod
    def parse(cls, name: str) -> TimerKey:
        """A version-1 timer name back to its key (ValueError when unknown)."""
        kind, sep, subject = name.partition("|")
        k = TimerKind(kind)
        if (k in KEYED_TIMERS) != bool(sep):
            raise ValueError(f"bad engine timer name {name!r}")
        return cls(k, subject)


def alert_key(rule: str, subject: str = "") -> str:
    """The key of an active alert in its chair: the rule, plus the device or signal for
    rules raised once per device (tech.device_lost) or signal (tech.sensor_off)."""
    return f"{rule}|{subject}" if subject else rule


def generated_session_id(chair: str, seq: list[int]) -> str:
    """The id of a session started without one, from `ChairState.session_seq`:
    `<chair>-<second>`, with `-2`, `-3` ... for more starts within that second."""
    sec, n = seq
    return f"{chair}-{sec}" if n == 1 else f"{chair}-{sec}-{n}"


@dataclass(slots=True)
class Alert:
    """One active alert (raised, not yet cleared)."""

    id: str
    rule: str
    key: str  # device or signal ("" for rules raised once per chair)
    priority: str
    kind: str
    raised_t: float
    value: dict[str, Any]
    message: str
    acked: bool = False  # acknowledged: no more escalation
    # Who acknowledged it and when (engine time): a second ACK is answered with them.
    acked_by: str | None = None
    acked_t: float | None = None
    held: bool = False  # latching: the clear condition holds, waiting for an ack
    level: int = 0  # escalations emitted so far
    # Escalation deadlines are esc_from + n x interval (clinical-rules.md "Precise
    # semantics"); None means the raise time, a restart moves it to the restart time.
    esc_from: float | None = None


@dataclass(slots=True)
class Session:
    """The open session of a chair. `session_id` is opaque, never patient data."""

    session_id: str
    protocol: str
    started_t: float
    dose_start_t: float | None = None
    dose_end_t: float | None = None


#: A BP reading kept in a confirmation run: [t, sys, dia, map].
BpRunReading = list[float | None]


@dataclass(slots=True)
class BpRuns:
    """A BP rule's confirmation run (readings that meet it) and clear run."""

    meets: list[BpRunReading] = field(default_factory=list)
    clears: list[BpRunReading] = field(default_factory=list)
    # Readings of the clear run before `clears`: a held latched clear keeps only its last
    # `clear` readings (bp.py), and the run's length is still counted in full, so a
    # restart with a config that no longer latches, or asks more readings, clears when
    # the whole run would have (and says how many readings it had).
    clears_before: int = 0

    def restart(self) -> None:
        self.meets.clear()
        self.clear_run()

    def clear_run(self) -> None:
        self.clears.clear()
        self.clears_before = 0

    def clear_count(self) -> int:
        """How many readings the clear run has, those no longer kept included."""
        return self.clears_before + len(self.clears)


@dataclass(slots=True)
class VitalRuns:
    """A HR/SpO2 rule's time runs: when the condition (`since`) and the clear condition
    (`clear_since`) started to hold, None when not running."""

    since: float | None = None
    clear_since: float | None = None


@dataclass(slots=True)
class ChairState:
    """Everything the engine knows about one chair."""

    name: str
    phase: str = "idle"
    session: Session | None = None
    base_bp: list[list[float]] = field(default_factory=list)  # last valid baseline [sys, dia]
    baseline: list[float] | None = None  # [sys, dia], fixed at dose_start
    session_bp: list[list[float]] = field(default_factory=list)  # last 2 valid BP of session
    window_bp: bool = False  # a valid BP inside the check_missed window
    bp_runs: dict[str, BpRuns] = field(default_factory=dict)
    ts_runs: dict[str, VitalRuns] = field(default_factory=dict)
    last_valid: dict[str, float] = field(default_factory=dict)  # signal -> t of last valid
    low_spo2_t: float | None = None  # last valid SpO2 below the discharge limit
    alerts: dict[str, Alert] = field(default_factory=dict)  # alert key -> alert, raise order
    timers: dict[TimerKey, list[float]] = field(default_factory=dict)  # key -> [due, rank]
    next_due: float | None = None
    invalid_samples: int = 0
    # alert key -> [raise time in ms, episodes raised in that ms]: keeps alert_id unique
    # when a rule raises, clears and raises again within one millisecond.
    episodes: dict[str, list[int]] = field(default_factory=dict)
    # signal -> the last valid reading [t, values...] (bp: sys, dia, map; hr; spo2), so
    # an escalation shows what the patient has now, not only what raised the alert.
    current: dict[str, list[float | None]] = field(default_factory=dict)
    # [second, count] of the last session id generated for a `session_start` without one,
    # so a second start within the same second gets `-2` (session.py); [] before any.
    session_seq: list[int] = field(default_factory=list)
    # alert id -> clear time of the chair's last alerts to clear (oldest first, at most
    # book.CLEARED_KEPT): the answer to an ACK that came after the clear.
    cleared: dict[str, float] = field(default_factory=dict)

    def recompute(self) -> None:
        self.next_due = min((v[0] for v in self.timers.values()), default=None)

    def set_timer(self, key: TimerKey, due: float, rank: int) -> None:
        # On the 1-us grid of event times (TIME_EPS above): 0.577 + 30 is due at 30.577,
        # the same t as an input at 30.577, so it fires after it (clinical-rules.md).
        due = on_grid(due)
        old = self.timers.get(key)
        self.timers[key] = [due, rank]
        if old is not None and old[0] == self.next_due:
            self.recompute()  # the timer moved: it may no longer be the earliest
        elif self.next_due is None or due < self.next_due:
            self.next_due = due

    def cancel(self, key: TimerKey) -> None:
        if self.timers.pop(key, None) is not None:
            self.recompute()

    def pop_next_timer(self) -> tuple[TimerKey, float]:
        """The earliest timer, removed. Simultaneous timers go in rule evaluation order
        (rank), then by key."""
        timers = self.timers
        key = min(timers, key=lambda k: (timers[k][0], timers[k][1], k))
        due = timers.pop(key)[0]
        self.recompute()
        return key, due
