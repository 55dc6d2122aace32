"""A chair's batch as the engine must see it (extracted from monitord/chair.py): stored
records re-sent by a device dropped as repeats (counted, told once per device and
connection), connection bursts held back until they end, and ended bursts put in with
their history marked `stored`. The bookkeeping itself is monitord/history.py.

A held record keeps its place among what was received: it belongs to the session open
when it was received (clinical-rules.md "Baseline", "Precise semantics": a reading of one
patient never confirms an alarm for the next; the report places a live reading at its
receive time). Other devices' readings, link changes and ACKs go on past a held record,
as they always did (holding them would hold every SpO2 alarm for BURST_GAP_S after each
cuff connection), but a session command received after it waits until its burst ends,
and so does everything received after that command: the records come out first, are
fed and stored in the session they arrived in, then the command. At most `WAIT_MAX_S`
though: a device that keeps a burst going (a long memory, or records every < 2 s without
end) must not hold the chair's vitals and alarms behind the command for longer; the
command then goes ahead, its held records after it (as before this wait existed).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from monitord.chair_inputs import Item, LinkChange, QueuedCommand
from monitord.console import n
from monitord.engine.inputs import SessionCmd
from monitord.history import StoredRecords
from monitord.models import Kind, Reading

log = logging.getLogger("monitord")

# How long a session command waits for held bursts (monotonic s since it was received).
# A cuff pushes a few records a second; the chair's other vitals wait with the command.
WAIT_MAX_S = 10.0


@dataclass
class _Slot:
    """The place of a held burst record among the chair's inputs; `got` once it ended."""

    got: Reading | None = None


class StoredSort:
    """Sorts one chair's batches around its `StoredRecords`."""

    def __init__(self, chair: str, history: StoredRecords) -> None:
        self.chair = chair
        self.history = history
        self._repeat_logged: set[str] = set()
        # Received and not given out yet, in arrival order: held records' slots and,
        # from a session command that waits for them on, everything after it.
        self._line: list[tuple[Item | _Slot, float]] = []  # (entry, mono when received)
        # Per device, the slots of its held records, oldest first (a burst ends whole and
        # in order: history.py `_end`).
        self._held: dict[str, deque[_Slot]] = {}

    def sort(self, batch: list[Item], closing: bool) -> list[Item]:
        """The batch with repeats dropped, connection bursts held back until they end,
        and ended bursts put in (their history marked `stored`), see monitord/history.py.
        `closing` (shutdown): a held burst resolves now."""
        mono = time.monotonic()
        for item in batch:
            if isinstance(item, Reading):
                ready, repeat = self.history.offer(item, mono)
                if repeat:
                    self._log_repeat(item)
                    continue
                self._fill(r for r in ready if r is not item)
                if any(r is item for r in ready):
                    self._line.append((self.history.as_told(item), mono))
                else:  # held: its place is kept
                    slot = _Slot()
                    self._held.setdefault(item.device, deque()).append(slot)
                    self._line.append((slot, mono))
                continue
            if isinstance(item, LinkChange):
                self._fill(self.history.link(item.device, item.up, mono))
                self._repeat_logged.discard(item.device)
            self._line.append((item, mono))
        self._fill(self.history.flush() if closing else self.history.due(mono))
        return self._release(mono)

    def waiting_at(self) -> float | None:
        """The time of the session command that waits for a held burst, if one does: the
        engine must not run its timers past it meanwhile (they would fire in the session
        the command ends or before the one it starts)."""
        for e, _ in self._line:
            if isinstance(e, QueuedCommand):
                return e.engine_input.t
        return None

    def _fill(self, ended: Iterable[Reading]) -> None:
        for r in ended:
            self._held[r.device].popleft().got = self.history.as_told(r)

    def _release(self, mono: float) -> list[Item]:
        out: list[Item] = []
        keep: list[tuple[Item | _Slot, float]] = []
        held_before = False
        for i, (e, at) in enumerate(self._line):
            if isinstance(e, _Slot):
                if e.got is None:
                    held_before = True
                    keep.append((e, at))
                else:
                    out.append(e.got)
            elif (
                held_before
                and isinstance(e, QueuedCommand)
                and isinstance(e.engine_input, SessionCmd)
                and mono - at <= WAIT_MAX_S
            ):
                keep += self._line[i:]
                break
            else:
                out.append(e)
        self._line = keep
        return out

    def _log_repeat(self, r: Reading) -> None:
        # Counted always (status); told once per device and connection, then DEBUG: a
        # cuff re-pushes its whole memory on every connection.
        what = (
            f"BP {n(r.values.get('sys_mmHg'))}/{n(r.values.get('dia_mmHg'))}"
            if r.kind == Kind.BP
            else f"{r.kind} " + " ".join(f"{k}={n(v)}" for k, v in r.values.items())
        )
        text = (
            f"{self.chair}/{r.device}: {what} measured at "
            f"{r.device_time.isoformat() if r.device_time else '?'} already taken; repeat "
            f"ignored ({self.history.repeats} so far)"
        )
        if r.device in self._repeat_logged:
            log.debug(text)
        else:
            self._repeat_logged.add(r.device)
            log.info(text)
