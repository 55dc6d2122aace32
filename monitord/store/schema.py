"""The store's SQLite schema: migrations (index i brings user_version i -> i+1) and the
errors a store can raise. Never edit a released step; append a new one."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
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
    # v4: a sink is a name, not a column. A record waits for a sink while a row
    # (sink, record_id) exists in `pending`; delivering (or quarantining) it deletes that
    # row. Adding a sink (station receipts, a webhook) adds rows, not a column. `chair` is
    # copied so a sink that drains per chair (MQTT) needs no join; the primary key serves
    # both the oldest-first fetch and the per-chair one (a range scan of one sink's rows).
    # Every row still pending in v3 (column = 0) is queued, in id order; delivered (1),
    # quarantined (2) and not-routed (NULL) ones are not.
    """
    CREATE TABLE pending (
        sink      TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        chair     TEXT NOT NULL,
        PRIMARY KEY (sink, record_id)
    ) WITHOUT ROWID;
    INSERT INTO pending (sink, record_id, chair)
        SELECT 'influx', id, chair FROM records WHERE influx = 0 ORDER BY id;
    INSERT INTO pending (sink, record_id, chair)
        SELECT 'mqtt', id, chair FROM records WHERE mqtt = 0 ORDER BY id;
    DROP INDEX records_influx_pending;
    DROP INDEX records_mqtt_pending;
    ALTER TABLE records DROP COLUMN influx;
    ALTER TABLE records DROP COLUMN mqtt;
    """,
    # v5 (SD-card writes, issue 20): appends no longer rewrite the `bytes` counter row (a
    # page in every group commit). It now counts the rows with id <= `bytes_upto`; the
    # rows after that are summed when the budget is checked (monitord/store/retention.py),
    # which also moves `bytes_upto` on. The DELETE trigger subtracts only rows it counts.
    # An existing store's `records` keeps AUTOINCREMENT (rebuilding a big table at start
    # would delay monitoring and need its size again on disk); the ids the store hands out
    # are never reused either way (monitord/store/records.py).
    """
    INSERT OR REPLACE INTO counters (name, value)
        VALUES ('bytes_upto', (SELECT coalesce(max(id), 0) FROM records));
    DROP TRIGGER records_bytes_del;
    CREATE TRIGGER records_bytes_del AFTER DELETE ON records
    WHEN OLD.id <= (SELECT value FROM counters WHERE name = 'bytes_upto') BEGIN
        UPDATE counters SET value = value - length(OLD.body) - 64 WHERE name = 'bytes';
    END;
    """,
    # v6 (SD-card writes, issue 20): readings leave the history index. Every group commit
    # rewrote its tail leaf and, every few commits, SQLite's 3-sibling rebalance of an index
    # b-tree (2.3 of ~7.6 WAL frames per commit for 1 chair, 10.1 of 18.7 for 4). The index
    # now holds alert and session rows only (rare); readings are found by measured time
    # through `reading_blocks`: per block of 1024 record ids (block = id >> 10), the min and
    # max `t_ns` of its readings, written once when the block closes
    # (monitord/store/blocks.py). The block holding the highest id may still grow, so
    # it is left open here (the writer works it out from its rows at its first append).
    """
    DROP INDEX records_history;
    CREATE INDEX records_events ON records (type, chair, t_ns) WHERE type != 'reading';
    CREATE TABLE reading_blocks (
        block    INTEGER PRIMARY KEY,
        min_t_ns INTEGER NOT NULL,
        max_t_ns INTEGER NOT NULL
    );
    INSERT INTO reading_blocks (block, min_t_ns, max_t_ns)
        SELECT id >> 10, min(t_ns), max(t_ns) FROM records
        WHERE type = 'reading'
          AND id < (((SELECT coalesce(max(id), 0) FROM records) >> 10) << 10)
        GROUP BY id >> 10;
    """,
    # v7 (SD-card writes, issue 20): new reading bodies are compact (codec.py
    # `reading_body`): the chair null (the row holds it) and the times as ns offsets from
    # the row's t_ns, ~40 % smaller. No row changes: every reader completes a body from its
    # row (`expand_reading`), and the older forms read as before. The step exists for the
    # version alone: a monitord older than v7 must refuse this store (SchemaTooNew) rather
    # than read offsets as times.
    "",
)
SCHEMA_VERSION = len(MIGRATIONS)

# A new store is created at SCHEMA_VERSION directly, as the chain above would leave it
# except that `records` has no AUTOINCREMENT: its `sqlite_sequence` row was rewritten by
# every group commit (a page of WAL each, issue 20). Ids are allocated by the store
# instead, never reused (monitord/store/records.py). Keep it equal to the chain's result
# otherwise (tests/delivery/test_outbox_v5.py compares them; v6: readings out of the
# history index, `reading_blocks`; v7 changes no table).
FRESH_SCHEMA = """
    CREATE TABLE records (
        id       INTEGER PRIMARY KEY,
        type     TEXT NOT NULL CHECK (type IN ('reading', 'alert', 'session')),
        chair    TEXT NOT NULL,
        t_ns     INTEGER NOT NULL,
        body     TEXT NOT NULL,
        added_ns INTEGER NOT NULL
    );
    CREATE INDEX records_events ON records (type, chair, t_ns) WHERE type != 'reading';
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
    INSERT INTO counters (name, value) VALUES ('bytes', 0), ('bytes_upto', 0);
    CREATE TRIGGER records_bytes_del AFTER DELETE ON records
    WHEN OLD.id <= (SELECT value FROM counters WHERE name = 'bytes_upto') BEGIN
        UPDATE counters SET value = value - length(OLD.body) - 64 WHERE name = 'bytes';
    END;
    CREATE TABLE pending (
        sink      TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        chair     TEXT NOT NULL,
        PRIMARY KEY (sink, record_id)
    ) WITHOUT ROWID;
    CREATE TABLE reading_blocks (
        block    INTEGER PRIMARY KEY,
        min_t_ns INTEGER NOT NULL,
        max_t_ns INTEGER NOT NULL
    );
"""


# SQLite's verdicts on the file itself (SQLITE_CORRUPT, SQLITE_NOTADB): no amount of free
# space or retrying opens it; such a store is moved aside (monitord/storeopen.py).
FILE_FAULTS = (11, 26)


class OutboxError(Exception):
    """The store cannot be used (newer schema, unreadable file); message says what to do."""


class MigrationFailed(Exception):
    """A step of the schema chain failed on an intact store (a disk without room for the
    step's rewrite, typically: an upgrade on a nearly full card). The step was rolled back
    and the store is as the older monitord left it: never a bad file to move aside (that
    put its backlog and the engines' snapshot out of reach), so not an OutboxError. The
    message names the step, SQLite's reason and the space the step needs."""


class SchemaTooNew(OutboxError):
    """The store was written by a newer monitord: refused, never moved aside or rewritten
    (a downgrade must not throw away what the newer version kept)."""


# SQLite primary result codes meaning "the store cannot take writes right now" (the disk is
# full, the file system failed or went read-only): the writer holds its data and retries.
# Anything else (a constraint, a misuse) is a bug and raises.
_UNAVAILABLE = {5, 6, 8, 10, 13, 14}  # BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN


def primary_code(e: BaseException) -> int:
    """SQLite's primary result code of `e` (an extended one, SQLITE_CORRUPT_INDEX, counts
    as its primary, SQLITE_CORRUPT); 0 for an error without one."""
    return (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def store_unavailable(e: BaseException) -> bool:
    """True if `e` says the store cannot be written now (disk full, I/O error, read-only)."""
    if isinstance(e, OSError):
        return True
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(e, sqlite3.Error) and code is not None:
        return (code & 0xFF) in _UNAVAILABLE
    return isinstance(e, sqlite3.OperationalError)


_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_IOERR = 13, 8, 10
_CARD_ERRNOS = {errno.EIO, errno.EROFS}


def unwritable_cause(e: BaseException, store: Path) -> str:
    """The cause of `e` (a refused write to `store`) in a few words, said where the fix is
    not: a command's answer, the loss said at stop. Before, those guessed "disk full?" on
    a failing card too (see `unwritable_advice`)."""
    code = primary_code(e)
    no = e.errno if isinstance(e, OSError) else None
    if code == _SQLITE_FULL or no == errno.ENOSPC:
        return "the disk is full"
    try:
        readonly = bool(os.statvfs(store.parent).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    if readonly:
        return "its file system is now read-only: the SD card is failing"
    if code in (_SQLITE_IOERR, _SQLITE_READONLY) or no in _CARD_ERRNOS:
        return "an I/O error: the SD card is failing"
    return "see the journal"


def unwritable_advice(e: BaseException, store: Path) -> str:
    """What to do about `store`, which refused a write with `e` (`store.unwritable`). A
    full disk is freed; a failing SD card is replaced: ext4 hitting an I/O error remounts
    it read-only (Raspberry Pi OS's `errors=remount-ro`) and every write then fails, which
    SQLite reports as an I/O error (SQLITE_IOERR: it keeps EIO and EROFS apart only from
    ENOSPC, SQLITE_FULL), so freeing space would fix nothing and waste the technician's
    time. The file system's read-only flag, where the kernel set it, is named too."""
    cause = unwritable_cause(e, store)
    if cause == "the disk is full":
        return "the disk is full: free disk space"
    if cause.endswith("the SD card is failing"):
        return (
            f"{cause.split(':')[0]}: the SD card is failing or was remounted read-only after "
            "an I/O error (freeing space will not help): replace it, then restore the store "
            "(docs/reliability.md)"
        )
    return cause


def split_sql(script: str) -> list[str]:
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
