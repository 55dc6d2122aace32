"""Appending records: readings, alert events and session events, each pending for the
sinks its type is routed to. Appends join the open transaction (always SYNC: a record is
acknowledged nowhere before it survives a power loss); `commit()` makes them durable."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from monitord.models import AlertEvent, Reading, SessionEvent
from monitord.store.base import Durability, StoreBase
from monitord.store.codec import (
    PENDING,
    ROUTES,
    RecordType,
    alert_body,
    dumps,
    reading_body,
    seconds_to_ns,
    session_body,
    to_ns,
)


class RecordsMixin(StoreBase):
    def _insert(self, rtype: RecordType, chair: str, t_ns: int, body: dict[str, Any]) -> int:
        routes = ROUTES[rtype]
        text = dumps(body)
        self._bump("bytes", len(text) + 64)  # as the v1 trigger did: length(body) + 64
        cur = self._db.execute(
            "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                rtype,
                chair,
                t_ns,
                text,
                PENDING if "influx" in routes else None,
                PENDING if "mqtt" in routes else None,
                time.time_ns(),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add_readings(
        self, readings: Sequence[Reading], sessions: Mapping[str, str | None]
    ) -> list[int]:
        """Append readings (session id looked up by chair). Durable after `commit()`.

        One executemany for the lot, rows in the given order. Inside our write transaction
        nobody else inserts, so AUTOINCREMENT hands out consecutive ids ending at
        last_insert_rowid()."""
        if not readings:
            return []
        self._begin(Durability.SYNC)
        now = time.time_ns()
        influx = PENDING if "influx" in ROUTES["reading"] else None
        mqtt = PENDING if "mqtt" in ROUTES["reading"] else None
        rows = []
        size = 0
        for r in readings:
            t_ns = self._unique_ns(("reading", r.chair, r.device), to_ns(r.measured_at))
            body = dumps(reading_body(r, sessions.get(r.chair)))
            size += len(body) + 64
            rows.append(("reading", r.chair, t_ns, body, influx, mqtt, now))
        self._bump("bytes", size)
        self._db.executemany(
            "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        last = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    def add_alert_events(self, events: Sequence[AlertEvent]) -> list[int]:
        self._begin(Durability.SYNC)
        ids = []
        for e in events:
            t_ns = self._unique_ns(
                ("alert", e.chair, e.rule, e.priority, e.kind), seconds_to_ns(e.t)
            )
            ids.append(self._insert("alert", e.chair, t_ns, alert_body(e)))
        return ids

    def add_session_events(self, events: Sequence[SessionEvent]) -> list[int]:
        self._begin(Durability.SYNC)
        ids = []
        for e in events:
            t_ns = self._unique_ns(("session", e.chair, e.protocol), seconds_to_ns(e.t))
            ids.append(self._insert("session", e.chair, t_ns, session_body(e)))
        return ids
