"""Per-sink delivery queues: what a sink fetches, marks delivered or quarantines, and its
backlog. A record waits for a sink while a `(sink, record_id)` row is in `pending`
(schema v4); a mark deletes that row. Marks commit with `Durability.NORMAL` (a lost mark
only makes the row pending again: it is resent with its same `t_ns`, an idempotent
overwrite). Marks the disk cannot take (full) are held in memory and written by the next
transaction that succeeds."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from monitord.store.base import Durability, StoreBase
from monitord.store.codec import DELIVERED, QUARANTINED, SINKS, Sink, StoredRecord, stored_record
from monitord.store.schema import store_unavailable

log = logging.getLogger("monitord.outbox")


class DeliveryMixin(StoreBase):
    def fetch(
        self,
        sink: Sink,
        limit: int,
        chair: str | None = None,
        after: int = 0,
        budget_s: float | None = None,
    ) -> list[StoredRecord]:
        """Oldest committed records still pending for `sink` (optionally one chair's), in
        append order, as typed stored records; only ids above `after` (a sink that
        delivers in id order passes the last id it settled, so the rows it delivered but
        whose marks still wait for the next group commit are not read again). With
        `budget_s`, stops early once decoding took that long (at least one row): the
        caller fetches the rest above the last id, after a turn of the event loop."""
        _check_sink(sink)
        # A copy, taken before the query: the writer thread un-holds marks right after
        # committing them, and the query's snapshot may predate that commit. Filtering its
        # rows through the live set would resend a row just marked delivered (a duplicate
        # publish / write); a mark held at this moment stays skipped in this fetch.
        held = set(self._held_marks[sink])
        want = limit
        limit += len(held)  # rows delivered but not yet marked on disk are skipped below
        if self._schema < 4:  # read-only open of a store the daemon has not migrated yet
            q = (
                f"SELECT id, type, chair, t_ns, body FROM records WHERE {sink} = 0"
                + (" AND chair = ?" if chair is not None else "")
                + " AND id > ? AND id <= ? ORDER BY id LIMIT ?"
            )
        else:
            q = (
                "SELECT r.id, r.type, r.chair, r.t_ns, r.body FROM pending p "
                "JOIN records r ON r.id = p.record_id WHERE p.sink = ?"
                + (" AND p.chair = ?" if chair is not None else "")
                + " AND p.record_id > ? AND p.record_id <= ? ORDER BY p.record_id LIMIT ?"
            )
        args: tuple[Any, ...] = (after, self._committed_max, limit)
        if chair is not None:
            args = (chair, *args)
        if self._schema >= 4:
            args = (sink, *args)
        # Decoded one by one up to `want`: decoding every row the LIMIT lets through and
        # slicing after cost a sink fetching small slices O(backlog) per slice (issue 20).
        out: list[StoredRecord] = []
        t0 = time.perf_counter()
        for i, t, c, ns, b in self._rdb.execute(q, args):
            if i not in held:
                out.append(stored_record(i, t, c, ns, b))
                if len(out) >= want:
                    break
                if budget_s is not None and time.perf_counter() - t0 > budget_s:
                    break
        return out

    def _set_state(self, sink: Sink, ids: Sequence[int], state: int) -> None:
        """End the wait of `ids` for `sink` (delivered or quarantined: the queue row goes
        either way; `state` only says which, for the log)."""
        _check_sink(sink)
        held = self._held_marks[sink]
        if not ids and not held:
            return
        todo = held | set(ids)
        self._unkept(todo)
        own_tx = not self._in_tx
        try:
            if own_tx:
                self._begin(Durability.NORMAL)  # marks only: no fsync (module docstring)
            for chunk in chunks(sorted(todo), 500):
                marks = ",".join("?" * len(chunk))
                self._db.execute(
                    f"DELETE FROM pending WHERE sink = ? AND record_id IN ({marks})",
                    (sink, *chunk),
                )
            if own_tx:
                self._end_tx()
        except sqlite3.Error as e:
            if not (own_tx and store_unavailable(e)):
                if own_tx:
                    self.rollback()
                raise
            # The disk cannot take the marks (full): keep them in memory so the sink does
            # not send these rows again and again; written by the next transaction that
            # succeeds. Lost only if the daemon stops first: the rows are then resent with
            # their same t_ns (idempotent), like after a power loss (module docstring).
            self.rollback()
            held.update(todo)
            log.debug(
                "outbox %s: %d delivery marks (%s) held in memory: %s",
                self.path,
                len(held),
                "quarantine" if state == QUARANTINED else "delivered",
                e,
            )
            return
        held.difference_update(todo)

    def mark_delivered(self, sink: Sink, ids: Sequence[int]) -> None:
        """The server confirmed these rows. Commits (with anything else open).

        With a writer thread (`use_writer`) the marks are held in memory at once (so
        `fetch` skips the rows) and written by the thread, never on the loop."""
        if self._submit is not None:
            _check_sink(sink)
            # Set operations are atomic under the GIL; the thread removes only what it
            # wrote (`difference_update`), so a mark added meanwhile is never lost.
            self._held_marks[sink].update(ids)
            if self._marks_waiting is not None:
                # Written with the guard's next group commit, not in a commit of their own.
                self._marks_waiting(sum(len(h) for h in self._held_marks.values()))
            else:
                self._submit(lambda: self._write_marks(sink))
            return
        self._set_state(sink, ids, DELIVERED)
        if self._in_tx:
            self.commit()

    def fold_marks(self, waiting: Callable[[int], None]) -> None:
        """From now on `mark_delivered` (with a writer) only holds the marks and calls
        `waiting(held)`; the caller writes them inside its own transactions with
        `write_held_marks` and `marks_committed`."""
        self._marks_waiting = waiting

    def marks_held(self) -> int:
        return sum(len(h) for h in self._held_marks.values())

    def write_held_marks(self) -> dict[Sink, set[int]]:
        """Inside the open transaction (the writer thread): delete the pending rows of
        every mark held now. They stay held (fetch keeps skipping them) until
        `marks_committed` says the transaction is durable: a rolled-back transaction
        loses none."""
        out: dict[Sink, set[int]] = {}
        for sink in SINKS:
            todo = set(self._held_marks[sink])  # a copy: the loop may add meanwhile
            if not todo:
                continue
            self._begin(Durability.NORMAL)  # marks alone need no fsync; joins a SYNC one
            self._unkept(todo)
            for chunk in chunks(sorted(todo), 500):
                marks = ",".join("?" * len(chunk))
                self._db.execute(
                    f"DELETE FROM pending WHERE sink = ? AND record_id IN ({marks})",
                    (sink, *chunk),
                )
            out[sink] = todo
        return out

    def marks_committed(self, written: dict[Sink, set[int]]) -> None:
        for sink, ids in written.items():
            # Removes only what was written: a mark added meanwhile is kept.
            self._held_marks[sink].difference_update(ids)

    def _write_marks(self, sink: Sink) -> None:
        """In the writer thread: write the held marks of `sink`."""
        self._set_state(sink, [], DELIVERED)
        if self._in_tx:
            self.commit()

    def quarantine(self, sink: Sink, items: Sequence[tuple[int, str, str | None]]) -> None:
        """Rows the server rejected for good: (id, reason, payload sent). Kept, counted,
        never retried."""
        if not items:
            return
        if self._submit is not None:
            self._held_marks[sink].update(i for i, _, _ in items)  # fetch skips them now
            job = list(items)
            self._submit(lambda: self._quarantine(sink, job))
            return
        self._quarantine(sink, items)

    def _quarantine(self, sink: Sink, items: Sequence[tuple[int, str, str | None]]) -> None:
        self._begin(Durability.SYNC)
        now = time.time_ns()
        self._db.executemany(
            "INSERT INTO quarantine (sink, record_id, reason, payload, at_ns) "
            "VALUES (?, ?, ?, ?, ?)",
            [(sink, i, reason[:2000], payload, now) for i, reason, payload in items],
        )
        self._bump(f"quarantined.{sink}", len(items))
        self._set_state(sink, [i for i, _, _ in items], QUARANTINED)
        self.commit()

    def quarantined(self, sink: Sink | None = None) -> list[dict[str, Any]]:
        q = "SELECT sink, record_id, reason, payload, at_ns FROM quarantine"
        args: tuple[Any, ...] = ()
        if sink is not None:
            q += " WHERE sink = ?"
            args = (sink,)
        return [
            {"sink": s, "record_id": r, "reason": why, "payload": p, "at_ns": at}
            for s, r, why, p, at in self._db.execute(q + " ORDER BY id", args)
        ]

    def backlog(self, sink: Sink, chair: str | None = None, *, at_most: int | None = None) -> int:
        """Committed rows still waiting for `sink`. With `at_most`, the count stops past
        it and returns `at_most + 1` ("more than"): a count reads every pending row, and
        a sink's failure message, on the event loop, counted a long outage's backlog at
        each retry (72 ms a million rows on the bench VM, several times that on a Pi)."""
        _check_sink(sink)
        if self._schema < 4:
            q = f"SELECT 1 FROM records WHERE {sink} = 0"
            args: tuple[Any, ...] = ()
        else:
            q, args = "SELECT 1 FROM pending WHERE sink = ?", (sink,)
        if chair is not None:
            q += " AND chair = ?"
            args = (*args, chair)
        # Rows delivered but not yet unmarked in the file are left out by id, inside the
        # query's own snapshot. Subtracting their number instead hid rows still pending:
        # the writer thread un-holds marks just after committing them, and in between they
        # were gone from the file and subtracted again. A copy, taken before the query (as
        # in `fetch`): a mark held later only counts its row as still waiting.
        held = set(self._held_marks[sink])
        if held:
            q += f" AND {'id' if self._schema < 4 else 'record_id'} NOT IN "
            q += "(SELECT value FROM json_each(?))"
            args = (*args, json.dumps(sorted(held)))
        if at_most is not None:
            q += " LIMIT ?"
            args = (*args, at_most + 1)
        row = self._rdb.execute(f"SELECT count(*) FROM ({q})", args).fetchone()
        return int(row[0])

    def oldest_pending_ns(self, sink: Sink) -> int | None:
        _check_sink(sink)
        if self._schema < 4:
            row = self._rdb.execute(
                f"SELECT added_ns FROM records WHERE {sink} = 0 ORDER BY id LIMIT 1"
            ).fetchone()
        else:
            row = self._rdb.execute(
                "SELECT r.added_ns FROM pending p JOIN records r ON r.id = p.record_id "
                "WHERE p.sink = ? ORDER BY p.record_id LIMIT 1",
                (sink,),
            ).fetchone()
        return int(row[0]) if row else None


def _check_sink(sink: str) -> None:
    # Also what makes the v3 fallbacks' column name safe to format into SQL.
    if sink not in SINKS:
        raise ValueError(f"unknown sink {sink!r} (known: {', '.join(SINKS)})")


def chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
