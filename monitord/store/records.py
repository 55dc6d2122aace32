"""Appending records: readings, alert events and session events, each queued (a
`pending` row per sink) for the sinks its type is routed to. Appends join the open
transaction (always SYNC: a record is acknowledged nowhere before it survives a power
loss); `commit()` makes them durable."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitord.models import AlertEvent, Reading, SessionEvent
from monitord.store.base import Durability
from monitord.store.blocks import BlocksMixin
from monitord.store.codec import (
    ROUTES,
    SINKS,
    RecordType,
    Sink,
    StoredAlert,
    alert_body,
    dumps,
    reading_body,
    reading_series,
    seconds_to_ns,
    session_body,
    to_ns,
)


class RecordsMixin(BlocksMixin):
    # Which sinks each record type is queued for: ROUTES narrowed to the sinks the config
    # enables (`route_to`). A queue nobody drains would hold its rows as undelivered
    # forever: the disk budget would then drop readings and raise store.budget for it.
    _routes: Mapping[RecordType, tuple[Sink, ...]] = ROUTES

    def route_to(self, enabled: Iterable[Sink]) -> int:
        """Queue records only for the `enabled` sinks from now on, and release the rows
        still queued for the others (left from a run when that sink was enabled): they
        stay in the store as local history and leave it with retention, like delivered
        rows. Returns how many queue rows were released."""
        wanted = set(enabled)  # once: `enabled` may be a generator
        on = tuple(s for s in SINKS if s in wanted)
        self._routes = {t: tuple(s for s in sinks if s in on) for t, sinks in ROUTES.items()}
        off = [s for s in SINKS if s not in on]
        if not off or self.readonly:
            return 0
        marks = ", ".join("?" * len(off))
        (n,) = self._db.execute(
            f"SELECT count(*) FROM pending WHERE sink IN ({marks})", off
        ).fetchone()
        if n:
            self._unkept_low = 0  # any row may have waited for them alone
            # NORMAL: a power loss may bring the rows back; the next start releases them.
            self._begin(Durability.NORMAL)
            self._db.execute(f"DELETE FROM pending WHERE sink IN ({marks})", off)
            self.commit()
        return int(n)

    def release_chairs(self, sink: Sink, chairs: Iterable[str]) -> dict[str, int]:
        """Release the rows queued for `sink` of every chair not in `chairs` (a chair id
        the config no longer has: the Pi moved to another chair, a typo fixed). A sink
        that drains per chair (MQTT: one connection, login and topic per configured
        chair) never fetches them, so they would wait for ever and keep `monitord
        status`'s backlog and its age growing. They stay in the store as local history
        (reports, InfluxDB's own queue). Returns {chair: rows released}."""
        keep = set(chairs)
        if self.readonly:
            return {}
        found = self._db.execute(
            "SELECT chair, count(*) FROM pending WHERE sink = ? GROUP BY chair", (sink,)
        ).fetchall()
        gone = {str(c): int(n) for c, n in found if c not in keep}
        if gone:
            self._unkept_low = 0  # as in route_to: a row may have waited for this sink alone
            # NORMAL: a power loss may bring the rows back; the next start releases them.
            self._begin(Durability.NORMAL)
            marks = ", ".join("?" * len(gone))
            self._db.execute(
                f"DELETE FROM pending WHERE sink = ? AND chair IN ({marks})", (sink, *gone)
            )
            self.commit()
        return gone

    def _insert(self, rtype: RecordType, chair: str, t_ns: int, body: dict[str, Any]) -> int:
        # No byte counter to bump (schema v5): the budget sums the rows added since its
        # last look (monitord/store/retention.py).
        (rid,) = self._new_ids(1)
        self._db.execute(
            "INSERT INTO records (id, type, chair, t_ns, body, added_ns) VALUES (?, ?, ?, ?, ?, ?)",
            (rid, rtype, chair, t_ns, dumps(body), time.time_ns()),
        )
        self._db.executemany(
            "INSERT INTO pending (sink, record_id, chair) VALUES (?, ?, ?)",
            [(sink, rid, chair) for sink in self._routes[rtype]],
        )
        return rid

    def add_readings(
        self, readings: Sequence[Reading], sessions: Mapping[str, str | None]
    ) -> list[int]:
        """Append readings (session id looked up by chair). Durable after `commit()`.

        One executemany for the lot, rows in the given order, with consecutive ids the
        store allocates (never reused: base.py `_id_floor`)."""
        if not readings:
            return []
        self._begin(Durability.SYNC)
        now = time.time_ns()
        ids = self._new_ids(len(readings))
        rows = []
        stamps = []
        for i, r in zip(ids, readings, strict=True):
            t_ns = self._unique_ns(reading_series(r.chair, r.device), to_ns(r.measured_at))
            body = dumps(reading_body(r, sessions.get(r.chair), t_ns))
            rows.append((i, "reading", r.chair, t_ns, body, now))
            stamps.append(t_ns)
        # No index on readings (schema v6): their id block's time range instead.
        self._blocks_note(ids, stamps)
        self._db.executemany(
            "INSERT INTO records (id, type, chair, t_ns, body, added_ns) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        # The delivery queues, one executemany per sink (batched: a statement per row
        # would cost the ingest path a fifth).
        for sink in self._routes["reading"]:
            self._db.executemany(
                "INSERT INTO pending (sink, record_id, chair) VALUES (?, ?, ?)",
                [(sink, i, r.chair) for i, r in zip(ids, readings, strict=True)],
            )
        return list(ids)

    def add_alert_events(self, events: Sequence[AlertEvent]) -> list[int]:
        return [a.id for a in self.add_alerts(events)]

    def add_alerts(self, events: Sequence[AlertEvent]) -> list[StoredAlert]:
        """Append alert events; returns them as the stored records a sink would fetch
        after the commit (the MQTT sink publishes an alarm's straight from its commit,
        monitord/sinks/mqtt.py)."""
        self._begin(Durability.SYNC)
        out = []
        for e in events:
            t_ns = self._unique_ns(
                ("alert", e.chair, e.rule, e.priority, e.kind), seconds_to_ns(e.t)
            )
            out.append(StoredAlert(self._insert("alert", e.chair, t_ns, alert_body(e)), e.chair,
                                   t_ns, e))  # fmt: skip
        return out

    def add_session_events(self, events: Sequence[SessionEvent]) -> list[int]:
        self._begin(Durability.SYNC)
        ids = []
        for e in events:
            t_ns = self._unique_ns(("session", e.chair, e.protocol), seconds_to_ns(e.t))
            ids.append(self._insert("session", e.chair, t_ns, session_body(e)))
        return ids
