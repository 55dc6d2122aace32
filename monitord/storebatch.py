"""One chair batch for the store (`StoreBatch`): what `monitord/storeguard.py` commits, in
order, and what runs once it is committed (or held on a full disk)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitord.models import AlertEvent, Reading, SessionEvent


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

    def n_readings(self) -> int:
        return sum(len(r) for r, _ in self.runs)

    def now(self) -> bool:
        """Commit without waiting for company (group commit of readings only)."""
        return bool(self.events or self.sessions or self.urgent)
