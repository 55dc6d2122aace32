"""History queries: what `monitord status`, the demo, reports and a resuming engine read
back from the store, as typed records (`Reading`, `AlertEvent`, `SessionEvent`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.store.blocks import BlocksMixin, range_terms
from monitord.store.codec import (
    R_KIND,
    R_STORED,
    RecordType,
    alert_from_body,
    expand_reading,
    reading_dict,
    reading_from_body,
    session_from_body,
    to_ns,
)

# How far `last_readings` looks back (blocks of 1024 record ids, all chairs together): the
# newest 131,072 records, ~18 h of one chair at 2 readings/s, ~4.5 h of four. A kind not
# seen in them is shown as having no last reading.
LAST_SCAN_BLOCKS = 128
# `recent_readings` (a one-off at start, upgrading an old state format): ~1M records.
RECENT_SCAN_BLOCKS = 1024


class HistoryMixin(BlocksMixin):
    def _history(
        self, rtype: RecordType, chair: str | None, since: datetime | None, until: datetime | None
    ) -> Iterator[tuple[int, Any]]:
        """(id, parsed body) in measured-time order; a reading's body is full
        (`expand_reading`: a v7 one needs its row's chair and t_ns)."""
        lo_ns = None if since is None else to_ns(since)
        hi_ns = None if until is None else to_ns(until)
        if rtype == "reading" and self._schema >= 6 and (lo_ns, hi_ns) != (None, None):
            yield from self._readings_by_blocks(chair, lo_ns, hi_ns)
            return
        q = "SELECT id, chair, t_ns, body FROM records WHERE type = ?"
        args: list[Any] = [rtype]
        if rtype != "reading":
            # The term of the partial index (schema v6), for SQLite to use it.
            q += " AND type != 'reading'"
        if chair is not None:
            q += " AND chair = ?"
            args.append(chair)
        terms, targs = range_terms("t_ns", "t_ns", lo_ns, hi_ns)
        q += "".join(f" AND {t}" for t in terms) + " ORDER BY t_ns, id"
        args += targs
        for i, c, t_ns, b in self._rdb.execute(q, args):
            yield i, expand_reading(json.loads(b), c, t_ns) if rtype == "reading" else json.loads(b)

    def _readings_by_blocks(
        self, chair: str | None, lo_ns: int | None, hi_ns: int | None
    ) -> Iterator[tuple[int, Any]]:
        """Readings of [lo_ns, hi_ns) from the id ranges of the blocks that may hold them
        (monitord/store/blocks.py), in the order of the indexed query they replace:
        measured time, then id."""
        cond: list[str] = ["type = 'reading'"]
        args: list[str | int] = []
        if chair is not None:
            cond.append("chair = ?")
            args.append(chair)
        terms, targs = range_terms("t_ns", "t_ns", lo_ns, hi_ns)
        cond += terms
        args += targs
        where = " AND ".join(cond)
        rows: list[tuple[int, int, str, str]] = []
        cols = "t_ns, id, chair, body"
        for first, last in self._reading_id_ranges(lo_ns, hi_ns):
            if last is None:
                q, ids = f"SELECT {cols} FROM records WHERE id >= ? AND {where}", [first]
            else:
                q = f"SELECT {cols} FROM records WHERE id BETWEEN ? AND ? AND {where}"
                ids = [first, last]
            rows.extend(self._rdb.execute(q, [*ids, *args]))
        rows.sort()  # by t_ns, then id (ids are unique: the chair and body never compare)
        for t_ns, i, c, b in rows:
            yield i, expand_reading(json.loads(b), c, t_ns)

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

    def alert_events_active_at(self, chair: str, at: datetime) -> list[AlertEvent]:
        """Every event before `at` of the chair's alert episodes still active at `at` (their
        last raise or clear before it a raise), however old. The report reads a week of
        events before a session (report/load.py); a low alarm raised before that week and
        active all along (a probe left off: low never escalates) had no event there and was
        missing from the record. Raises and clears are picked in SQL (escalations, the
        bulk of an old history, are not decoded); then the events of the episodes found."""
        where = "FROM records WHERE type = 'alert' AND type != 'reading' AND chair = ? AND t_ns < ?"
        args: list[Any] = [chair, to_ns(at)]
        last: dict[str, str] = {}
        for aid, event in self._rdb.execute(
            "SELECT json_extract(body, '$.alert_id'), json_extract(body, '$.event') "
            f"{where} AND json_extract(body, '$.event') IN ('raised', 'cleared') "
            "ORDER BY t_ns, id",
            args,
        ):
            if aid is not None:
                last[aid] = event
        active = sorted(aid for aid, event in last.items() if event != "cleared")
        if not active:
            return []
        ids = ",".join("?" * len(active))
        return [
            alert_from_body(json.loads(b))
            for (b,) in self._rdb.execute(
                f"SELECT body {where} AND json_extract(body, '$.alert_id') IN ({ids}) "
                "ORDER BY t_ns, id",
                [*args, *active],
            )
        ]

    def session_events(
        self,
        chair: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SessionEvent]:
        return [session_from_body(b) for _, b in self._history("session", chair, since, until)]

    def recent_readings(self, chair: str, kind: Kind, limit: int) -> list[Reading]:
        """The newest `limit` stored readings of one kind for a chair, newest first in
        append order (id), looked for among the newest `RECENT_SCAN_BLOCKS` x 1024 records
        (no index on readings: a bounded scan back by id; for rare look-ups such as
        upgrading an old state format)."""
        kind_path = f"$[{R_KIND}]" if self._schema >= 2 else "$.kind"
        out: list[Reading] = []
        for lo, hi in self._id_windows_back(RECENT_SCAN_BLOCKS):
            out += [
                reading_from_body(expand_reading(json.loads(b), chair, t_ns), seq=i)
                for i, t_ns, b in self._rdb.execute(
                    "SELECT id, t_ns, body FROM records WHERE id BETWEEN ? AND ? "
                    "AND type = 'reading' AND chair = ? AND json_extract(body, ?) = ? "
                    "ORDER BY id DESC LIMIT ?",
                    (lo, hi, chair, kind_path, str(kind), limit - len(out)),
                )
            ]
            if len(out) >= limit:
                break
        return out

    def last_readings(self, chair: str) -> dict[str, Reading]:
        """The last stored live reading per kind for a chair (status, demo). "Last" is
        append order: the reading stored most recently, i.e. received last, whatever the
        device's clock says (a wrong device clock must not hide the current value). A
        record from a device's memory (`stored`) is history, never the patient's last
        value. Looked for among the newest `LAST_SCAN_BLOCKS` x 1024 records of the store
        (all chairs), newest first, stopping once every kind is found: a bounded scan back
        by id, no index on readings (schema v6)."""
        kind_path = f"$[{R_KIND}]" if self._schema >= 2 else "$.kind"
        live = (
            f" AND NOT coalesce(json_extract(body, '$[{R_STORED}]'), 0)"
            if self._schema >= 3
            else ""
        )
        kinds = {str(k) for k in Kind}
        newest: dict[str, int] = {}
        for lo, hi in self._id_windows_back(LAST_SCAN_BLOCKS):
            # The newest live id per kind in this window (SQLite's max() picks the row).
            for kind, i in self._rdb.execute(
                "SELECT json_extract(body, ?) AS k, max(id) FROM records "
                "WHERE id BETWEEN ? AND ? AND type = 'reading' AND chair = ?"
                + live
                + " GROUP BY k",
                (kind_path, lo, hi, chair),
            ):
                if kind in kinds:
                    newest.setdefault(kind, int(i))
            if newest.keys() >= kinds:
                break
        out: dict[str, Reading] = {}
        for kind in Kind:
            if (i := newest.get(str(kind))) is not None:
                q = "SELECT t_ns, body FROM records WHERE id = ?"
                t_ns, b = self._rdb.execute(q, (i,)).fetchone()
                body = expand_reading(json.loads(b), chair, t_ns)
                out[str(kind)] = reading_from_body(body, seq=i)
        return out

    def chairs_seen(self) -> list[str]:
        """Every chair with stored alert or session events, or with readings among the
        newest records `last_readings` looks at (schema v6: no index on readings, and a
        chair whose readings are all older shows no last reading anyway)."""
        if self._schema < 6:
            q = "SELECT DISTINCT chair FROM records ORDER BY 1"
            return [c for (c,) in self._rdb.execute(q)]
        windows = self._id_windows_back(LAST_SCAN_BLOCKS)
        lo = windows[-1][0] if windows else 0
        chairs = {
            c
            for (c,) in self._rdb.execute(
                "SELECT DISTINCT chair FROM records WHERE type != 'reading'"
            )
        }
        chairs.update(
            c
            for (c,) in self._rdb.execute(
                "SELECT DISTINCT chair FROM records WHERE id >= ? AND type = 'reading'", (lo,)
            )
        )
        return sorted(chairs)

    def count(self, rtype: RecordType | None = None) -> int:
        if rtype is None:
            return int(self._rdb.execute("SELECT count(*) FROM records").fetchone()[0])
        # Alerts and sessions through the partial index (its term named: schema v6).
        extra = "" if rtype == "reading" else " AND type != 'reading'"
        q = f"SELECT count(*) FROM records WHERE type = ?{extra}"
        return int(self._rdb.execute(q, (rtype,)).fetchone()[0])
