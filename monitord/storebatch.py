"""One chair batch for the store (`StoreBatch`): what `monitord/storeguard.py` commits, in
order, and what runs once it is committed (or held on a full disk)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from monitord.models import AlertEvent, Reading, Refusal, SessionEvent
from monitord.store.codec import StoredAlert

log = logging.getLogger("monitord.store")


def refused(cause: str) -> str:
    """The answer to a command while the store cannot be written (on cmd/errors): `cause`
    from `StoreGuard.trouble` (it read "(disk full?)" on a failing card too)."""
    return (
        f"not applied: the local store cannot be written ({cause}); "
        "try again when the store alarm clears"
    )


# `code` of the answer on cmd/errors to a command APPLIED in a batch the store could not
# take (docs/mqtt.md): no refusal. Without it the station read every cmd/errors answer as
# one: an ACK that silenced the alarm read "Refused at 14:02: applied, but ...", and the
# Dose start that started the dose "the dose had already started at 14:02; this one (its
# dose and lot) was not recorded" (tests/station/test_station_applied_not_stored.py).
NOT_STORED = "not_stored"


def not_stored(cause: str) -> Refusal:
    """The answer to a command applied in a batch the store could not take (held)."""
    return Refusal(
        f"applied, but not yet stored: the local store cannot be written ({cause}); "
        "held in memory until it can be",
        NOT_STORED,
    )


@dataclass
class StoreBatch:
    """What one chair batch must store, in order, and what to do once it is stored."""

    chair: str
    runs: list[tuple[list[Reading], str | None]] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    sessions: list[SessionEvent] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    done: Callable[[], None] | None = None
    # Someone waits for this batch (a command's answer): commit at once, like events.
    urgent: bool = False
    # With a writer thread: run when a batch `write` accepted is held after all (its
    # commit failed on a full disk), so its alarms show live and its commands are answered.
    held: Callable[[], None] | None = None
    told_held: bool = False
    # Dropped for a bug, not held: told so (`held` then answers commands accordingly).
    dropped: bool = False
    # `events` as stored (their record ids), set by the transaction that stored them: what
    # `done` hands the sinks so an alarm is published from its commit (issue 20).
    alerts: list[StoredAlert] = field(default_factory=list)
    # Set by the transaction that stored it, once committed (in the writer thread): what
    # a stop whose commit callback never ran goes by (StoreGuard.writer_stopped).
    committed: bool = False

    def n_readings(self) -> int:
        return sum(len(r) for r, _ in self.runs)

    def now(self) -> bool:
        """Commit without waiting for company (group commit of readings only)."""
        return bool(self.events or self.sessions or self.urgent)


def alarms_first(batches: list[StoreBatch]) -> list[StoreBatch]:
    """The order in which a group commit's batches are told (their `done`): the batches
    of every chair with an alert, session event or command answer in this commit first,
    then the others. The listeners hand work on to tasks in this order (the MQTT sink's
    per-chair tx task), so an alarm is not queued behind 15 other chairs' vitals (issue
    20). Each chair's own batches keep their order: a chair's older vitals told after
    its newer ones would overwrite them."""
    first = {b.chair for b in batches if b.now()}
    if not first or len(first) == len({b.chair for b in batches}):
        return batches
    return [b for b in batches if b.chair in first] + [b for b in batches if b.chair not in first]


def alarms_to_front(held: list[StoreBatch]) -> int:
    """Move the batches of every chair with an alarm waiting (an alert or session event,
    a command's answer) to the front of `held`, each chair's batches in their order, and
    return how many they are: the next commit takes those only. 0 (commit all) when no
    batch is urgent or every held batch is of such a chair."""
    first = {b.chair for b in held if b.now()}
    if not first:
        return 0
    front = [b for b in held if b.chair in first]
    if len(front) == len(held):
        return 0
    held[:] = front + [b for b in held if b.chair not in first]
    return len(front)


def tell_held(batches: Iterable[StoreBatch], *, dropped: bool = False) -> None:
    """Tell each batch, once, that the store does not have it (its `held`): its alarms
    show live (the active set as of the batch), its commands are answered. `dropped`:
    it never will (a bug), rather than held until the disk takes it."""
    for b in batches:
        b.dropped = b.dropped or dropped
        if not b.told_held:
            b.told_held = True
            if b.held is not None:
                b.held()


def _counts(batches: list[StoreBatch]) -> str:
    events = sum(len(b.events) for b in batches)
    sessions = sum(len(b.sessions) for b in batches)
    readings = sum(b.n_readings() for b in batches)
    return f"{events} alert event(s), {sessions} session event(s) and {readings} reading(s)"


def say_lost(
    held: list[StoreBatch],
    why: str,
    console: Callable[[str], None] | None,
    in_write: int = 0,
    then: str = "",
) -> None:
    """At stop: what the store never got (`held`, not stored, the daemon exits) is LOST,
    said at CRITICAL on the journal and the console. `why`: "the store X ..."; the first
    `in_write` batches are in the write a hung disk has not finished (stored if it ever
    does: SQLite commits a transaction whole or not at all). `then`: a last clause (what
    state the store is left in)."""
    text = f"stopping while {why}: " + (
        f"{_counts(held)} held in memory are LOST" if held else "nothing held in memory"
    )
    if in_write:
        text += (
            f" (of them, {_counts(held[:in_write])} are in the write the disk has not "
            "finished: stored only if it ever does)"
        )
    if then:
        text += f"; {then}"
    log.critical(text)
    if console is not None:
        console(f"!!! {text}")
