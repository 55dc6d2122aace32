"""The outbox: a local SQLite store that everything worth keeping passes through first.

This module is the facade: `Outbox` joins the store's jobs, one module each under
monitord/store/ (schema, codec, base = connection and transactions, records, delivery,
history, state, retention).

Readings, alert events and session events are appended here and committed *before* they
are acknowledged anywhere else (design.md section 2). The sinks drain it: each record is
queued once per sink its type is routed to (a `(sink, record_id)` row in `pending`,
schema v4: a sink is a name, not a column), so InfluxDB and MQTT advance independently
and a row leaves a sink's queue only after the server confirmed it. Sinks receive typed
stored records (`StoredReading`, `StoredAlert`, `StoredSession`). Delivered rows stay for
`storage.retention_days`: they are the local history `monitord status`, the demo and
reports read.

Durability: WAL journal, `synchronous=FULL` (a committed transaction survives power loss,
not only a process crash), one transaction per `commit()` so the hub batches its appends
(in the daemon, off the event loop and group-committed: monitord/storeguard.py).
A `kill -9` at any instant leaves either the old or the new state of the last transaction
(SQLite's atomic commit); nothing committed is ever lost.
Exception: a transaction holding only delivery marks (`mark_delivered`) and/or live state
written with `Durability.NORMAL` (status: `chair/...`, `daemon`) commits with
`synchronous=NORMAL`: no fsync on the event loop, still atomic and still safe against a
process crash (`kill -9`); after a *power loss* such a commit may be rolled back. A lost
delivery mark only makes the row pending again, and it is resent with its same `t_ns` (an
idempotent overwrite in InfluxDB; MQTT alert events are at-least-once anyway); lost status
is rewritten within a second. Any transaction with records, `Durability.SYNC` state
(engine snapshots) or quarantine stays FULL, and the next FULL commit fsyncs the WAL with
the NORMAL frames before it.

In the daemon (writer thread, monitord/storeguard.py) marks and status are not
transactions of their own but part of the next group commit, and a group commit of
readings alone is NORMAL too (docs/reliability.md has the durability of each record).

Reading bodies (schema v2; v3 appends `stored`) are JSON arrays in `READING_FIELDS`
order; alert and session bodies are JSON objects. The history queries return typed
`Reading`/`AlertEvent`/`SessionEvent`s. Only alert and session rows are indexed by (type,
chair, t_ns); readings are found by measured time through `reading_blocks`, the time
range of each block of 1024 ids (schema v6: no index page in a reading's commit;
monitord/store/blocks.py).

Disk budget (`storage.max_mb`), applied by `prune()` (called periodically by the daemon,
monitord/storeguard.py) in this order:
1. delivered rows past retention are deleted (normal housekeeping); undelivered rows are
   kept past their retention;
2. if the store is still over budget, delivered rows are deleted oldest first before
   their retention is up, readings first, then session events, then alert events (logged
   WARNING the first time and INFO after, counted as `pruned_early`);
3. if undelivered rows alone exceed the budget, the oldest undelivered *readings* are
   dropped (logged CRITICAL, counted as `dropped_readings`, a technical alarm in status);
   undelivered alert and session events are never dropped, whatever the budget: they are
   few and small, and an alarm nobody was told of must reach the station.
Counters live in the store (`counters()`), so they survive restarts and `status` shows them.
The daemon runs a prune as bounded steps (`prune_step`), each its own writer-thread job,
so an alarm never waits for more than one step (monitord/store/retention.py).

A full disk (SQLITE_FULL / I/O error on write, `store_unavailable()`): the caller rolls
back and holds its data (monitord/storeguard.py); delivery marks are held here.

Timestamps: every record has `t_ns`, the event time in integer nanoseconds, fixed at
insert. InfluxDB rows are keyed by series + timestamp, so a retried write with the same
`t_ns` overwrites itself (idempotent). Two different records of the same series with the
same instant would overwrite each other instead, so `t_ns` is made unique per series by
adding nanoseconds on a collision (a shift of a few ns, recorded nowhere else), against
bounded memories (monitord/store/stamps.py): a stuck device clock's time keeps counting
up, and the newest records of the file are read once at start, never per record.

Live state for `monitord status` (written by the daemon with `put_state`):
- `chair/<id>`: `{"protocol", "session_id", "phase", "devices": {dev: {"driver",
  "link", "last_seen"}}, "active_alerts": [...]}` (any JSON; status prints what it finds)
- `daemon`: `{"pid", "started", "version"}`
- `daemon/alive` (a heartbeat, once a minute), `daemon/stopped` (a clean stop's time) and
  `outages/<chair>` (when monitord was not running during a session): monitord/store/outages.py
Anything else (e.g. engine snapshots) can be stored under other keys.
"""

from __future__ import annotations

from monitord.store.base import Durability, StoreBase
from monitord.store.codec import (
    DELIVERED,
    QUARANTINED,
    ROUTES,
    SINKS,
    RecordType,
    Sink,
    StoredAlert,
    StoredReading,
    StoredRecord,
    StoredSession,
    alert_from_body,
    from_ns,
    reading_dict,
    reading_from_body,
    seconds_to_ns,
    session_from_body,
    to_ns,
)
from monitord.store.history import HistoryMixin
from monitord.store.records import RecordsMixin
from monitord.store.retention import RetentionMixin
from monitord.store.schema import (
    FILE_FAULTS,
    MIGRATIONS,
    SCHEMA_VERSION,
    MigrationFailed,
    OutboxError,
    SchemaTooNew,
    primary_code,
    split_sql,
    store_unavailable,
)
from monitord.store.state import StateMixin

# Names tests and tools used before the split (tests/delivery/test_outbox_migration.py).
_MIGRATIONS = MIGRATIONS
_split_sql = split_sql

__all__ = [
    "DELIVERED",
    "FILE_FAULTS",
    "QUARANTINED",
    "ROUTES",
    "SCHEMA_VERSION",
    "SINKS",
    "Durability",
    "MigrationFailed",
    "Outbox",
    "OutboxError",
    "RecordType",
    "SchemaTooNew",
    "Sink",
    "StoreBase",
    "StoredAlert",
    "StoredReading",
    "StoredRecord",
    "StoredSession",
    "alert_from_body",
    "from_ns",
    "primary_code",
    "reading_dict",
    "reading_from_body",
    "seconds_to_ns",
    "session_from_body",
    "store_unavailable",
    "to_ns",
]


class Outbox(RecordsMixin, RetentionMixin, HistoryMixin, StateMixin):
    """SQLite outbox + local history. Synchronous: the daemon runs its writes in a writer
    thread (`use_writer`, monitord/store/writer.py) and reads on the loop through a second
    connection; tools and tests use it directly.

    Appends join the open transaction; `commit()` makes them durable and visible to
    `fetch()` (a sink never sees a row that could still vanish in a crash).
    """
