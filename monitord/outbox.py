"""The outbox: a local SQLite store that everything worth keeping passes through first.

Readings, alert events and session events are appended here and committed *before* they
are acknowledged anywhere else (design.md section 2). The sinks drain it: each record
carries its own delivery state per sink, so InfluxDB and MQTT advance independently and a
row is marked delivered only after the server confirmed it. Delivered rows stay for
`storage.retention_days`: they are the local history `monitord status`, the demo and
reports read.

Durability: WAL journal, `synchronous=FULL` (a committed transaction survives power loss,
not only a process crash), one transaction per `commit()` so the hub batches its appends.
A `kill -9` at any instant leaves either the old or the new state of the last transaction
(SQLite's atomic commit); nothing committed is ever lost.
Exception: a transaction holding only delivery marks (`mark_delivered`) and/or live state
other than engine snapshots (`chair/...`, `daemon`) commits with `synchronous=NORMAL`: no
fsync on the event loop, still atomic and still safe against a process crash (`kill -9`);
after a *power loss* such a commit may be rolled back. A lost delivery mark only makes
the row pending again, and it is resent with its same `t_ns` (an idempotent overwrite in
InfluxDB; MQTT alert events are at-least-once anyway); lost status is rewritten within a
second. Any transaction with records, engine snapshots or quarantine stays FULL, and the
next FULL commit fsyncs the WAL with the NORMAL frames before it.

Reading bodies (schema v2; v3 appends `stored`) are JSON arrays in `_READING_FIELDS`
order; alert and session bodies are JSON objects. `Row.body` and the history queries
return the same objects as before (readings as the v1 dict, see `reading_dict`).

Disk budget (`storage.max_mb`), applied by `prune()` (called periodically by the daemon,
monitord/storeguard.py) in this order:
1. delivered rows past retention are deleted (normal housekeeping); undelivered rows are
   kept past their retention;
2. if the store is still over budget, delivered rows are deleted oldest first before
   their retention is up, readings first, then session events, then alert events (logged
   WARNING, counted as `pruned_early`);
3. if undelivered rows alone exceed the budget, the oldest undelivered *readings* are
   dropped (logged CRITICAL, counted as `dropped_readings`, a technical alarm in status);
   undelivered alert and session events are never dropped, whatever the budget: they are
   few and small, and an alarm nobody was told of must reach the station.
Counters live in the store (`counters()`), so they survive restarts and `status` shows them.

A full disk (SQLITE_FULL / I/O error on write, `store_unavailable()`): the caller rolls
back and holds its data (monitord/storeguard.py); delivery marks are held here.

Timestamps: every record has `t_ns`, the event time in integer nanoseconds, fixed at
insert. InfluxDB rows are keyed by series + timestamp, so a retried write with the same
`t_ns` overwrites itself (idempotent). Two different records of the same series with the
same instant would overwrite each other instead, so `t_ns` is made unique per series by
adding nanoseconds on a collision (a shift of a few ns, recorded nowhere else).

Live state for `monitord status` (written by the daemon with `put_state`):
- `chair/<id>`: `{"protocol", "session_id", "phase", "devices": {dev: {"driver",
  "link", "last_seen"}}, "active_alerts": [...]}` (any JSON; status prints what it finds)
- `daemon`: `{"pid", "started", "version"}`
Anything else (e.g. engine snapshots) can be stored under other keys.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent

log = logging.getLogger("monitord.outbox")

Sink = Literal["influx", "mqtt"]
SINKS: tuple[Sink, ...] = ("influx", "mqtt")
RecordType = Literal["reading", "alert", "session"]

# Delivery state per sink column: NULL = not for this sink.
PENDING, DELIVERED, QUARANTINED = 0, 1, 2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Which sinks each record type goes to (design.md sections 6 and 7).
_ROUTES: Mapping[RecordType, tuple[Sink, ...]] = {
    "reading": ("influx",),
    "alert": ("influx", "mqtt"),
    "session": ("influx",),
}

# Schema migrations: index i brings user_version i -> i+1. Never edit a released step;
# append a new one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE records (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        type    TEXT NOT NULL CHECK (type IN ('reading', 'alert', 'session')),
        chair   TEXT NOT NULL,
        t_ns    INTEGER NOT NULL,
        body    TEXT NOT NULL,
        influx  INTEGER,
        mqtt    INTEGER,
        added_ns INTEGER NOT NULL
    );
    CREATE INDEX records_influx_pending ON records (id) WHERE influx = 0;
    CREATE INDEX records_mqtt_pending ON records (chair, id) WHERE mqtt = 0;
    CREATE INDEX records_history ON records (type, chair, t_ns);
    CREATE TABLE quarantine (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        sink      TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        reason    TEXT NOT NULL,
        payload   TEXT,
        at_ns     INTEGER NOT NULL
    );
    CREATE TABLE state (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_ns INTEGER NOT NULL
    );
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('bytes', 0);
    CREATE TRIGGER records_bytes_ins AFTER INSERT ON records BEGIN
        UPDATE counters SET value = value + length(NEW.body) + 64 WHERE name = 'bytes';
    END;
    CREATE TRIGGER records_bytes_del AFTER DELETE ON records BEGIN
        UPDATE counters SET value = value - length(OLD.body) - 64 WHERE name = 'bytes';
    END;
    """,
    # v2: reading bodies become a JSON array in _READING_FIELDS order instead of an object
    # (half the size, a third of the encode/decode cost on the ingest path). Alert and
    # session bodies stay objects. The byte counter is recomputed: UPDATE fires no trigger.
    # The per-row INSERT trigger goes: the appends add their bytes once per call (a
    # counter UPDATE per reading was a fifth of the insert cost); the DELETE one stays.
    """
    UPDATE records SET body = json_array(
        json_extract(body, '$.chair'),
        json_extract(body, '$.device'),
        json_extract(body, '$.kind'),
        json(json_extract(body, '$.values')),
        json_extract(body, '$.measured_at'),
        json_extract(body, '$.received_at'),
        json(CASE json_type(body, '$.valid') WHEN 'false' THEN 'false' ELSE 'true' END),
        json(json_extract(body, '$.flags')),
        json(CASE json_type(body, '$.contact') WHEN 'true' THEN 'true'
             WHEN 'false' THEN 'false' ELSE 'null' END),
        json_extract(body, '$.device_time'),
        json_extract(body, '$.session')
    ) WHERE type = 'reading' AND json_type(body) = 'object';
    UPDATE counters SET value = (
        SELECT coalesce(sum(length(body) + 64), 0) FROM records
    ) WHERE name = 'bytes';
    DROP TRIGGER records_bytes_ins;
    """,
    # v3: reading bodies get a 12th element, `stored` (a record a device pushed from its
    # memory: history, fed to no rule, clinical-rules.md). Every older reading was live.
    """
    UPDATE records SET body = json_insert(body, '$[#]', json('false'))
    WHERE type = 'reading' AND json_type(body) = 'array' AND json_array_length(body) = 11;
    UPDATE counters SET value = (
        SELECT coalesce(sum(length(body) + 64), 0) FROM records
    ) WHERE name = 'bytes';
    """,
)
# Positions in a v2 reading body (a JSON array).
_READING_FIELDS = (
    "chair",
    "device",
    "kind",
    "values",
    "measured_at",
    "received_at",
    "valid",
    "flags",
    "contact",
    "device_time",
    "session",
    "stored",
)
_R_KIND = _READING_FIELDS.index("kind")
_R_STORED = _READING_FIELDS.index("stored")
SCHEMA_VERSION = len(_MIGRATIONS)


class OutboxError(Exception):
    """The store cannot be used (newer schema, unreadable file); message says what to do."""


class SchemaTooNew(OutboxError):
    """The store was written by a newer monitord: refused, never moved aside or rewritten
    (a downgrade must not throw away what the newer version kept)."""


# SQLite primary result codes meaning "the store cannot take writes right now" (the disk is
# full, the file system failed or went read-only): the writer holds its data and retries.
# Anything else (a constraint, a misuse) is a bug and raises.
_UNAVAILABLE = {5, 6, 8, 10, 13, 14}  # BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN


def store_unavailable(e: BaseException) -> bool:
    """True if `e` says the store cannot be written now (disk full, I/O error, read-only)."""
    if isinstance(e, OSError):
        return True
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(e, sqlite3.Error) and code is not None:
        return (code & 0xFF) in _UNAVAILABLE
    return isinstance(e, sqlite3.OperationalError)


@dataclass(frozen=True, slots=True)
class Row:
    """One record as a sink sees it."""

    id: int
    type: RecordType
    chair: str
    t_ns: int
    body: dict[str, Any]


def to_ns(d: datetime) -> int:
    """Aware datetime -> integer ns since the epoch, exactly (no float rounding)."""
    delta = d - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)


def seconds_to_ns(t: float) -> int:
    return round(t * 1_000_000_000)


def _reading_body(r: Reading, session: str | None) -> list[Any]:
    """The stored (v2) form: a JSON array in _READING_FIELDS order."""
    return [
        r.chair,
        r.device,
        str(r.kind),
        dict(r.values),
        to_ns(r.measured_at),
        to_ns(r.received_at),
        r.valid,
        list(r.flags),
        r.contact,
        to_ns(r.device_time) if r.device_time is not None else None,
        session,
        r.stored,
    ]


def reading_dict(body: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """A stored reading body (v2 array, or a v1 object) as the v1 dict: what `Row.body`
    carries for readings, so sinks and tools see one shape whatever the schema."""
    if isinstance(body, Mapping):
        return dict(body)
    if len(body) == len(_READING_FIELDS) - 1:  # v2 (read-only open of a store not migrated)
        body = [*body, False]
    return dict(zip(_READING_FIELDS, body, strict=True))


def reading_from_body(body: Mapping[str, Any] | Sequence[Any], seq: int = 0) -> Reading:
    if not isinstance(body, Mapping):
        body = reading_dict(body)
    dt_ = body.get("device_time")
    return Reading(
        chair=body["chair"],
        device=body["device"],
        kind=Kind(body["kind"]),
        values=dict(body["values"]),
        measured_at=from_ns(body["measured_at"]),
        received_at=from_ns(body["received_at"]),
        valid=bool(body["valid"]),
        flags=tuple(body["flags"]),
        contact=body["contact"],
        device_time=from_ns(dt_) if dt_ is not None else None,
        stored=bool(body.get("stored", False)),
        seq=seq,
    )


def _alert_body(e: AlertEvent) -> dict[str, Any]:
    return {
        "t": e.t,
        "chair": e.chair,
        "rule": e.rule,
        "event": e.event,
        "priority": e.priority,
        "kind": e.kind,
        "alert_id": e.alert_id,
        "phase": e.phase,
        "value": dict(e.value),
        "message": e.message,
        "level": e.level,
        "by": e.by,
    }


def alert_from_body(b: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        t=b["t"],
        chair=b["chair"],
        rule=b["rule"],
        event=b["event"],
        priority=b["priority"],
        kind=b["kind"],
        alert_id=b["alert_id"],
        phase=b["phase"],
        value=b["value"],
        message=b["message"],
        level=b.get("level"),
        by=b.get("by"),
    )


def _session_body(e: SessionEvent) -> dict[str, Any]:
    return {
        "t": e.t,
        "chair": e.chair,
        "action": e.action,
        "protocol": e.protocol,
        "session_id": e.session_id,
    }


def session_from_body(b: Mapping[str, Any]) -> SessionEvent:
    return SessionEvent(
        t=b["t"],
        chair=b["chair"],
        action=b["action"],
        protocol=b["protocol"],
        session_id=b["session_id"],
    )


# allow_nan=False: NaN is not JSON; a device NaN must have become None in the decoder.
# One encoder for all: json.dumps with options builds a new one per call.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


class Outbox:
    """SQLite outbox + local history. Synchronous and cheap: used from the event loop.

    Appends join the open transaction; `commit()` makes them durable and visible to
    `fetch()` (a sink never sees a row that could still vanish in a crash).
    """

    def __init__(
        self, path: Path, cfg: StorageConfig, *, readonly: bool = False, memory: bool = False
    ) -> None:
        self.path = Path(path)
        self.cfg = cfg
        self.readonly = readonly
        # memory=True: a store in RAM only (the daemon's last resort when no file can be
        # written at `path`; see monitord/storeopen.py). Same API, nothing survives a restart.
        self.memory = memory
        # Delivery marks the disk could not take (full): kept here, hidden from fetch() and
        # backlog(), written with the next transaction that succeeds (see _set_state).
        self._held_marks: dict[str, dict[int, int]] = {s: {} for s in SINKS}
        if memory:
            self._db = sqlite3.connect(":memory:", isolation_level=None)
        elif readonly:
            if not self.path.exists():
                raise OutboxError(f"{self.path}: no outbox here (has the daemon run yet?)")
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if not readonly:
            # auto_vacuum must be chosen before the first table exists.
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and not memory:
                raise OutboxError(f"{self.path}: cannot use WAL journal (got {mode!r})")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        else:
            v = self._db.execute("PRAGMA user_version").fetchone()[0]
            if v > SCHEMA_VERSION:
                raise SchemaTooNew(f"{self.path}: schema v{v} is newer than this monitord")
        self._in_tx = False
        # Was the open transaction begun with synchronous=FULL? Only one holding nothing
        # but delivery marks / non-engine state is begun NORMAL (SQLite fixes the level
        # at BEGIN: it may not change inside a transaction).
        self._tx_full = True
        self._schema = self.schema_version()
        self._committed_max = self._max_id()
        # Recent t_ns per series, to keep timestamps unique (see module docstring).
        self._recent: dict[tuple[str, ...], deque[int]] = {}
        self._recent_sets: dict[tuple[str, ...], set[int]] = {}
        self._ns_journal: list[tuple[tuple[str, ...], int, int | None]] = []
        self._drop_said = self._over_said = False

    # -- schema --------------------------------------------------------------------------
    def _migrate(self) -> None:
        v = self._db.execute("PRAGMA user_version").fetchone()[0]
        if v > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path}: schema v{v} is newer than this monitord (v{SCHEMA_VERSION}); "
                "upgrade monitord or move the file away"
            )
        for i in range(v, SCHEMA_VERSION):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(_MIGRATIONS[i]):
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version = {i + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            log.info("outbox %s: schema migrated to v%d", self.path, i + 1)

    def schema_version(self) -> int:
        v: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return v

    def _max_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM records").fetchone()
        return int(row[0] or 0)

    # -- transactions --------------------------------------------------------------------
    def _begin(self, full: bool = True) -> None:
        """Open a write transaction unless one is open. `full=False`: it will hold only
        delivery marks / non-engine state and may commit with synchronous=NORMAL."""
        if self._in_tx:
            if not full or self._tx_full:
                return
            # A NORMAL transaction (status only) is open and something that must survive
            # power loss follows: commit the status part now, begin a FULL one.
            self._end_tx()
        if not full:
            self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            if not full:
                self._db.execute("PRAGMA synchronous = FULL")
            raise
        self._in_tx = True
        self._tx_full = full

    def _end_tx(self, rollback: bool = False) -> None:
        try:
            self._db.execute("ROLLBACK" if rollback else "COMMIT")
            if rollback:
                self._undo_unique_ns()
            self._ns_journal.clear()
        finally:
            self._in_tx = False
            if not self._tx_full:
                self._db.execute("PRAGMA synchronous = FULL")
                self._tx_full = True

    def commit(self) -> None:
        """Make everything appended so far durable (fsync) and visible to the sinks.

        A transaction holding only delivery marks and non-engine state commits with
        synchronous=NORMAL (no fsync; see the module docstring)."""
        if self._in_tx:
            self._end_tx()
        self._committed_max = self._max_id()

    def rollback(self) -> None:
        """Abandon the open transaction (after a failed write: SQLite may or may not have
        rolled it back itself on a full disk)."""
        try:
            self._undo_unique_ns()
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            self._in_tx = False
            if not self._tx_full:
                self._tx_full = True
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        if self._in_tx:
            try:
                self.commit()
            except sqlite3.Error as e:
                if not store_unavailable(e):
                    raise
                log.critical("outbox %s: last commit failed on close: %s", self.path, e)
                self.rollback()
        if not self.readonly and not self.memory:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as e:
                log.debug("checkpoint on close failed: %s", e)
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- appends -------------------------------------------------------------------------
    def _unique_ns(self, key: tuple[str, ...], t_ns: int) -> int:
        dq = self._recent.get(key)
        if dq is None:
            dq = self._recent[key] = deque()
            self._recent_sets[key] = set()
        seen = self._recent_sets[key]
        while t_ns in seen:
            t_ns += 1
        dq.append(t_ns)
        seen.add(t_ns)
        evicted = None
        if len(dq) > 256:
            evicted = dq.popleft()
            seen.discard(evicted)
        # Undone by rollback(): a retried write (full disk) must get the same stamps.
        self._ns_journal.append((key, t_ns, evicted))
        return t_ns

    def _undo_unique_ns(self) -> None:
        for key, t_ns, evicted in reversed(self._ns_journal):
            dq, seen = self._recent[key], self._recent_sets[key]
            dq.pop()
            seen.discard(t_ns)
            if evicted is not None:
                dq.appendleft(evicted)
                seen.add(evicted)
        self._ns_journal.clear()

    def _insert(self, rtype: RecordType, chair: str, t_ns: int, body: dict[str, Any]) -> int:
        routes = _ROUTES[rtype]
        text = _dumps(body)
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
        self._begin()
        now = time.time_ns()
        influx = PENDING if "influx" in _ROUTES["reading"] else None
        mqtt = PENDING if "mqtt" in _ROUTES["reading"] else None
        rows = []
        size = 0
        for r in readings:
            t_ns = self._unique_ns(("reading", r.chair, r.device), to_ns(r.measured_at))
            body = _dumps(_reading_body(r, sessions.get(r.chair)))
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
        self._begin()
        ids = []
        for e in events:
            t_ns = self._unique_ns(
                ("alert", e.chair, e.rule, e.priority, e.kind), seconds_to_ns(e.t)
            )
            ids.append(self._insert("alert", e.chair, t_ns, _alert_body(e)))
        return ids

    def add_session_events(self, events: Sequence[SessionEvent]) -> list[int]:
        self._begin()
        ids = []
        for e in events:
            t_ns = self._unique_ns(("session", e.chair, e.protocol), seconds_to_ns(e.t))
            ids.append(self._insert("session", e.chair, t_ns, _session_body(e)))
        return ids

    # -- sink side -----------------------------------------------------------------------
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
                self._begin(full=False)  # marks only: no fsync needed (module docstring)
            for st in set(todo.values()):
                same = [i for i, s in todo.items() if s == st]
                for chunk in _chunks(same, 500):
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
        self._begin()
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

    # -- history -------------------------------------------------------------------------
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
        for i, b in self._db.execute(q, args):
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
        kind_path = f"$[{_R_KIND}]" if self._schema >= 2 else "$.kind"
        return [
            reading_from_body(json.loads(b), seq=i)
            for i, b in self._db.execute(
                "SELECT id, body FROM records WHERE type = 'reading' AND chair = ? "
                "AND json_extract(body, ?) = ? ORDER BY id DESC LIMIT ?",
                (chair, kind_path, str(kind), limit),
            )
        ]

    def last_readings(self, chair: str) -> dict[str, Reading]:
        """The newest stored live reading per kind for a chair (status, demo); a record
        from a device's memory (`stored`) is history, never the patient's last value."""
        out: dict[str, Reading] = {}
        kind_path = f"$[{_R_KIND}]" if self._schema >= 2 else "$.kind"
        live = f" AND NOT coalesce(json_extract(body, '$[{_R_STORED}]'), 0)"
        for kind in Kind:
            row = self._db.execute(
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
        return [c for (c,) in self._db.execute("SELECT DISTINCT chair FROM records ORDER BY 1")]

    def count(self, rtype: RecordType | None = None) -> int:
        if rtype is None:
            return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])
        return int(
            self._db.execute("SELECT count(*) FROM records WHERE type = ?", (rtype,)).fetchone()[0]
        )

    # -- live state ----------------------------------------------------------------------
    def put_state(self, key: str, value: Any, *, commit: bool = True) -> None:
        """Store a JSON value under `key` (status, engine snapshots). Committed at once
        unless `commit=False` (then with the next `commit()`)."""
        # An engine snapshot is what the engine resumes from after a power loss: FULL.
        self._begin(full=key.startswith("engine/"))
        self._db.execute(
            "INSERT INTO state (key, value, updated_ns) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_ns = excluded.updated_ns",
            (key, _dumps(value), time.time_ns()),
        )
        if commit:
            self.commit()

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def state_items(self, prefix: str = "") -> dict[str, tuple[Any, int]]:
        """key -> (value, updated_ns) for keys starting with `prefix`."""
        return {
            k: (json.loads(v), ns)
            for k, v, ns in self._db.execute(
                "SELECT key, value, updated_ns FROM state WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            )
        }

    # -- counters ------------------------------------------------------------------------
    def _bump(self, name: str, n: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._db.execute("SELECT name, value FROM counters")}

    # -- retention and disk budget -------------------------------------------------------
    def used_bytes(self) -> int:
        """Bytes of live pages in the database (free pages excluded) plus the WAL."""
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            wal_size = os.path.getsize(wal)
        except OSError:
            wal_size = 0
        return int((pages - free) * page_size + wal_size)

    def _page_bytes(self) -> int:
        """Bytes of live pages in the database file (the WAL and free pages excluded)."""
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def _db_bytes(self) -> int:
        """What the disk budget counts: the size of the stored records (JSON bodies + a
        fixed per-row overhead for keys and indexes), kept up to date by the appends (and a
        DELETE trigger) so it costs no scan. Page counts would not do: a few kept alert
        rows pin half-empty pages, and the budget would then eat every reading to free
        nothing."""
        row = self._db.execute("SELECT value FROM counters WHERE name = 'bytes'").fetchone()
        return int(row[0]) if row else 0

    def prune(self, now_ns: int | None = None) -> dict[str, int]:
        """Apply retention and the disk budget (module docstring). Returns what was done."""
        if self._in_tx:
            self.commit()
        # Delivery marks held in memory (disk was full) go first: they make rows prunable.
        for sink in SINKS:
            if self._held_marks[sink]:
                self._set_state(sink, [], DELIVERED)
        now_ns = time.time_ns() if now_ns is None else now_ns
        done = {"expired": 0, "pruned_early": 0, "dropped_readings": 0}
        delivered = "(influx IS NULL OR influx != 0) AND (mqtt IS NULL OR mqtt != 0)"
        cutoff = now_ns - int(self.cfg.retention_days * 86_400 * 1e9)
        self._db.execute("BEGIN IMMEDIATE")
        cur = self._db.execute(
            f"DELETE FROM records WHERE {delivered} AND added_ns < ? AND t_ns < ?",
            (cutoff, cutoff),
        )
        done["expired"] = cur.rowcount
        self._db.execute("DELETE FROM quarantine WHERE at_ns < ?", (cutoff,))
        self._db.execute("COMMIT")

        # Free pages (left by rewritten state rows, deletes) go back to the file system
        # first, so the file measures what it holds (auto_vacuum = INCREMENTAL: cheap).
        vacuumed = bool(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        if vacuumed:
            self._db.execute("PRAGMA incremental_vacuum")
        disk_budget = int(self.cfg.max_mb * 1024 * 1024)
        # The budget is for the file on disk; the counter counts the rows' bodies. Scale it
        # by what the file really takes per counted byte (indexes, page slack), measured
        # now; capped, so half-empty pages pinned by kept rows cannot make it eat every
        # reading to free nothing (see _db_bytes).
        counted = max(self._db_bytes(), 1)
        scale = min(3.0, max(1.0, self._page_bytes() / counted))
        budget = int(disk_budget / scale)
        # Free down to 90 % of the budget so we do not prune on every call at the edge.
        target = int(budget * 0.9)
        # Delivered rows first, readings before session events before alert events: alert
        # events are the last local history to go.
        for rtype in ("reading", "session", "alert"):
            if self._db_bytes() <= budget:
                break
            done["pruned_early"] += self._shrink(
                f"{delivered} AND type = '{rtype}'", target, "pruned_early"
            )
        if done["pruned_early"]:
            log.warning(
                "outbox %s over its disk budget (storage.max_mb = %g): deleted %d "
                "delivered rows before their retention; local history is shorter",
                self.path,
                self.cfg.max_mb,
                done["pruned_early"],
            )
        if self._db_bytes() > budget:
            done["dropped_readings"] = self._shrink("type = 'reading'", target, "dropped_readings")
            if done["dropped_readings"]:
                # CRITICAL the first time, DEBUG on repeats (the running count is in the
                # counters and in the daemon's technical alarm, monitord/storeguard.py).
                said = self._drop_said
                self._drop_said = True
                log.log(
                    logging.DEBUG if said else logging.CRITICAL,
                    "outbox %s full (storage.max_mb = %g) with undelivered data: DROPPED "
                    "the %d oldest undelivered readings (alert and session events are "
                    "kept); check the InfluxDB connection or raise storage.max_mb",
                    self.path,
                    self.cfg.max_mb,
                    done["dropped_readings"],
                )
        if any(done.values()) or vacuumed:
            self._db.execute("PRAGMA incremental_vacuum")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            file_bytes = 0 if self.memory else self.path.stat().st_size
            if file_bytes > 1.5 * disk_budget and self._db_bytes() < budget:
                # Deleted rows left the file fragmented; compact it (rewrites the file).
                log.info("outbox %s: compacting (%d bytes on disk)", self.path, file_bytes)
                self._db.execute("VACUUM")
        if self._db_bytes() > budget:
            said, self._over_said = self._over_said, True
            log.log(
                logging.DEBUG if said else logging.CRITICAL,
                "outbox %s still over its disk budget (storage.max_mb = %g) with "
                "undelivered alert/session events only; nothing more may be dropped",
                self.path,
                self.cfg.max_mb,
            )
        return done

    def _shrink(self, where: str, target: int, counter: str) -> int:
        """Delete the oldest rows matching `where` until the stored size is under
        `target`, exactly as many as needed (the budget counts bodies, see _db_bytes).
        `counter` counts them in the same transaction: rows + counter always add up."""
        total = 0
        while (excess := self._db_bytes() - target) > 0:
            ids: list[int] = []
            freed = 0
            for rid, size in self._db.execute(
                f"SELECT id, length(body) + 64 FROM records WHERE {where} ORDER BY id LIMIT 500"
            ):
                ids.append(rid)
                freed += size
                if freed >= excess:
                    break
            if not ids:
                break
            self._db.execute("BEGIN IMMEDIATE")
            for chunk in _chunks(ids, 500):
                self._db.execute(
                    f"DELETE FROM records WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
            self._bump(counter, len(ids))
            self._db.execute("COMMIT")
            total += len(ids)
        return total

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def _sink_col(sink: str) -> str:
    if sink not in SINKS:
        raise ValueError(f"unknown sink {sink!r} (known: {', '.join(SINKS)})")
    return sink


def _chunks(seq: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script (sqlite3.complete_statement keeps triggers whole;
    executescript() would COMMIT our migration transaction half way)."""
    out: list[str] = []
    cur = ""
    for part in script.split(";"):
        cur += part + ";"
        if sqlite3.complete_statement(cur):
            if cur.strip(" \n;"):
                out.append(cur.strip())
            cur = ""
    return out
