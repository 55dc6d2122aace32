"""History queries: what `monitord status`, the demo, reports and a resuming engine read
back from the store, as typed records (`Reading`, `AlertEvent`, `SessionEvent`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.store.base import StoreBase
from monitord.store.codec import (
    R_KIND,
    R_STORED,
    RecordType,
    alert_from_body,
    reading_dict,
    reading_from_body,
    session_from_body,
    to_ns,
)


class HistoryMixin(StoreBase):
    def _history(
        self, rtype: RecordType, chair: str | None, since: datetime | None, until: datetime | None
    ) -> Iterator[tuple[int, Any]]:
        q = "SELECT id, body FROM records WHERE type = ?"
        args: list[Any] = [rtype]
        if chair is not None:
            q += " AND chair = ?"
            args.append(chair)
        if since is not None:
            q += " AND t_ns >= ?"
            args.append(to_ns(since))
        if until is not None:
            q += " AND t_ns < ?"
            args.append(to_ns(until))
        q += " ORDER BY t_ns, id"
        for i, b in self._rdb.execute(q, args):
            yield i, json.loads(b)

    def readings(
        self,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[Reading, str | None]]:
        """Stored readings (with the session id they were taken in), by measured time."""
        out = []
        for i, b in self._history("reading", chair, since, until):
            d = reading_dict(b)
            out.append((reading_from_body(d, seq=i), d.get("session")))
        return out

    def alert_events(
        self,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AlertEvent]:
        return [alert_from_body(b) for _, b in self._history("alert", chair, since, until)]

    def session_events(
        self,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SessionEvent]:
        return [session_from_body(b) for _, b in self._history("session", chair, since, until)]

    def recent_readings(self, chair: str, kind: Kind, limit: int) -> list[Reading]:
        """The newest `limit` stored readings of one kind for a chair, newest first (in
        append order: no index on kind, so only for rare look-ups such as upgrading an
        old state format)."""
        kind_path = f"$[{R_KIND}]" if self._schema >= 2 else "$.kind"
        return [
            reading_from_body(json.loads(b), seq=i)
            for i, b in self._rdb.execute(
                "SELECT id, body FROM records WHERE type = 'reading' AND chair = ? "
                "AND json_extract(body, ?) = ? ORDER BY id DESC LIMIT ?",
                (chair, kind_path, str(kind), limit),
            )
        ]

    def last_readings(self, chair: str) -> dict[str, Reading]:
        """The newest stored live reading per kind for a chair (status, demo); a record
        from a device's memory (`stored`) is history, never the patient's last value."""
        out: dict[str, Reading] = {}
        kind_path = f"$[{R_KIND}]" if self._schema >= 2 else "$.kind"
        live = f" AND NOT coalesce(json_extract(body, '$[{R_STORED}]'), 0)"
        for kind in Kind:
            row = self._rdb.execute(
                "SELECT id, body FROM records WHERE type = 'reading' AND chair = ? "
                "AND json_extract(body, ?) = ?"
                + (live if self._schema >= 3 else "")
                + " ORDER BY t_ns DESC LIMIT 1",
                (chair, kind_path, str(kind)),
            ).fetchone()
            if row:
                out[str(kind)] = reading_from_body(json.loads(row[1]), seq=row[0])
        return out

    def chairs_seen(self) -> list[str]:
        """Every chair with stored records."""
        return [c for (c,) in self._rdb.execute("SELECT DISTINCT chair FROM records ORDER BY 1")]

    def count(self, rtype: RecordType | None = None) -> int:
        if rtype is None:
            return int(self._rdb.execute("SELECT count(*) FROM records").fetchone()[0])
        return int(
            self._rdb.execute("SELECT count(*) FROM records WHERE type = ?", (rtype,)).fetchone()[0]
        )
