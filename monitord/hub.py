"""The hub: what a chair committed, told to whoever listens.

A chair task owns its state (engine, active alert set) and, after each batch is durable,
publishes one `CommittedBatch`. Consumers (the MQTT sink's live vitals and active set,
the InfluxDB writer's wake-up, the console, the status writer, and later the station
receipts) subscribe as listeners, as Home Assistant's DataUpdateCoordinator does: the
owner calls `publish` and never knows who listens or what they are.

Listeners run synchronously on the loop when the batch's commit returns (the store's writer
thread, monitord/storeguard.py), in subscription order, so they must only
hand work on (set an event, queue a value, print a line) and never block. One listener
failing is logged (WARNING once, DEBUG on repeats) and does not keep the batch from the
others: a broken console must not cost the nurses' station its alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitord.log import FailureLog
from monitord.models import AlertEvent, Reading, SessionEvent
from monitord.store.codec import StoredAlert

log = logging.getLogger("monitord.hub")


@dataclass(frozen=True, slots=True)
class CommittedBatch:
    """One chair's output of one batch.

    `durable` is False when the disk could not take the batch (monitord/storeguard.py):
    its alarms are shown live but nothing is in the outbox yet, so sinks have nothing new
    to drain. `active` is the chair's active alert set after the batch, or None when the
    batch could not change it (no alert or session event, no latched clear starting or
    ending to hold) or a newer batch's set was shown first (held: chair.py `_show`)."""

    chair: str
    # The chair time `active` is as of: the engine's when the batch was processed, not
    # the commit's (a later batch's events are at or after it: docs/mqtt.md
    # "alerts/active"); at the start, the chair clock's then.
    t: float | None
    readings: Sequence[Reading] = ()
    events: Sequence[AlertEvent] = ()
    sessions: Sequence[SessionEvent] = ()
    active: Sequence[dict[str, Any]] | None = None
    durable: bool = True
    # The chair's session (phase, dose times, observation met, next BP due) along with
    # `active`, for the nurses' station (monitord/engine/sessioninfo.py).
    session: dict[str, Any] | None = None
    # `events` as committed to the outbox (a durable batch): record ids for the sinks'
    # delivery marks, so the MQTT sink publishes an alarm from here without querying the
    # outbox first (issue 20's alert path).
    stored: Sequence[StoredAlert] = ()


Listener = Callable[[CommittedBatch], None]


class Hub:
    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, FailureLog]] = []

    def subscribe(self, listener: Listener, name: str) -> Callable[[], None]:
        """Call `listener` with every batch from now on; returns the unsubscribe."""
        entry = (listener, FailureLog(log, f"listener {name}"))
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def publish(self, batch: CommittedBatch) -> None:
        for listener, flog in list(self._listeners):
            try:
                listener(batch)
            except Exception as e:
                flog.failure(
                    type(e).__name__,
                    f"failed on a batch of {batch.chair}: {e!r} (a bug: please report it)",
                    logging.ERROR,
                )
            else:
                flog.success()
