"""Per-sink delivery: what a sink fetches, marks delivered or quarantines, and its backlog.
Marks commit with `Durability.NORMAL` (a lost mark only makes the row pending again: it is
resent with its same `t_ns`, an idempotent overwrite). Marks the disk cannot take (full)
are held in memory and written by the next transaction that succeeds."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

from monitord.store.base import Durability, StoreBase
from monitord.store.codec import DELIVERED, QUARANTINED, SINKS, Row, Sink, reading_dict
from monitord.store.schema import store_unavailable

log = logging.getLogger("monitord.outbox")


class DeliveryMixin(StoreBase):
    def fetch(self, sink: Sink, limit: int, chair: str | None = None) -> list[Row]:
        """Oldest committed rows still pending for `sink` (optionally one chair's), in
        append order."""
        col = _sink_col(sink)
        held = self._held_marks[sink]
        limit += len(held)  # rows delivered but not yet marked on disk are skipped below
        if chair is None:
            q = (
                f"SELECT id, type, chair, t_ns, body FROM records WHERE {col} = 0 "
                "AND id <= ? ORDER BY id LIMIT ?"
            )
            args: tuple[Any, ...] = (self._committed_max, limit)
        else:
            q = (
                f"SELECT id, type, chair, t_ns, body FROM records WHERE {col} = 0 "
                "AND chair = ? AND id <= ? ORDER BY id LIMIT ?"
            )
            args = (chair, self._committed_max, limit)
        loads = json.loads
        return [
            Row(
                id=i,
                type=t,
                chair=c,
                t_ns=ns,
                body=reading_dict(loads(b)) if t == "reading" else loads(b),
            )
            for i, t, c, ns, b in self._db.execute(q, args)
            if i not in held
        ][: limit - len(held)]

    def _set_state(self, sink: Sink, ids: Sequence[int], state: int) -> None:
        col = _sink_col(sink)
        held = self._held_marks[sink]
        if not ids and not held:
            return
        todo = dict(held)
        todo.update(dict.fromkeys(ids, state))
        own_tx = not self._in_tx
        try:
            if own_tx:
                self._begin(Durability.NORMAL)  # marks only: no fsync (module docstring)
            for st in set(todo.values()):
                same = [i for i, s in todo.items() if s == st]
                for chunk in chunks(same, 500):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(
                        f"UPDATE records SET {col} = ? WHERE {col} = 0 AND id IN ({marks})",
                        (st, *chunk),
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
            log.debug("outbox %s: %d delivery marks held in memory: %s", self.path, len(held), e)
            return
        held.clear()

    def mark_delivered(self, sink: Sink, ids: Sequence[int]) -> None:
        """The server confirmed these rows. Commits (with anything else open)."""
        self._set_state(sink, ids, DELIVERED)
        if self._in_tx:
            self.commit()

    def quarantine(self, sink: Sink, items: Sequence[tuple[int, str, str | None]]) -> None:
        """Rows the server rejected for good: (id, reason, payload sent). Kept, counted,
        never retried."""
        if not items:
            return
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

    def backlog(self, sink: Sink, chair: str | None = None) -> int:
        """Committed rows still waiting for `sink`."""
        col = _sink_col(sink)
        if chair is None:
            row = self._db.execute(f"SELECT count(*) FROM records WHERE {col} = 0").fetchone()
            return max(0, int(row[0]) - len(self._held_marks[sink]))
        row = self._db.execute(
            f"SELECT count(*) FROM records WHERE {col} = 0 AND chair = ?", (chair,)
        ).fetchone()
        return int(row[0])

    def oldest_pending_ns(self, sink: Sink) -> int | None:
        col = _sink_col(sink)
        row = self._db.execute(
            f"SELECT added_ns FROM records WHERE {col} = 0 ORDER BY id LIMIT 1"
        ).fetchone()
        return int(row[0]) if row else None


def _sink_col(sink: str) -> str:
    if sink not in SINKS:
        raise ValueError(f"unknown sink {sink!r} (known: {', '.join(SINKS)})")
    return sink


def chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
