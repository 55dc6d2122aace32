"""The store's connection: opening (and migrating), transactions with an explicit
`Durability`, commit/rollback, unique event-time stamps and the counters table. The jobs
(records, delivery, history, state, retention) are mixins over this base."""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Self

from monitord.config import StorageConfig
from monitord.store import checkpoint as checkpoint_mod
from monitord.store.codec import SINKS, SQL_READING_DEVICE, reading_series, record_series
from monitord.store.rofs import WalOnReadOnly, open_read_only
from monitord.store.schema import (
    FILE_FAULTS,
    FRESH_SCHEMA,
    MIGRATIONS,
    SCHEMA_VERSION,
    MigrationFailed,
    OutboxError,
    SchemaTooNew,
    primary_code,
    split_sql,
    store_unavailable,
)
from monitord.store.space import DISK_FAULTS, FULL_DISK_BYTES, free_bytes
from monitord.store.stamps import RESTART_IDS, Series, Stamps

log = logging.getLogger("monitord.outbox")

PAGE_SIZE = 1024  # of a new store (see __init__)


class Durability(enum.Enum):
    """How a write transaction commits; the caller says which, at the call site.

    SYNC: `synchronous=FULL`, fsynced, survives a power loss (records, engine snapshots,
    quarantine). NORMAL: atomic and safe against a process crash but may be rolled back by
    a power loss (delivery marks, status): no fsync on the event loop. A transaction
    holding any SYNC write commits SYNC."""

    SYNC = "sync"
    NORMAL = "normal"


class StoreBase:
    """SQLite connection + transactions, shared by the store's job mixins."""

    def __init__(
        self,
        path: Path,
        cfg: StorageConfig,
        *,
        readonly: bool = False,
        memory: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """`progress(what)`: called often while a migration runs (the daemon tells systemd
        its start goes on: monitord/sdnotify.py StartExtender)."""
        self.path = Path(path)
        self.cfg = cfg
        self.readonly = readonly
        # memory=True: a store in RAM only (the daemon's last resort when no file can be
        # written at `path`; see monitord/storeopen.py). Same API, nothing survives a restart.
        self.memory = memory
        # Its whole-file check left for after the start (monitord/storecheck.py).
        self.unchecked = False
        # Delivery marks the disk could not take (full): kept here, hidden from fetch() and
        # backlog(), written with the next transaction that succeeds (see _set_state).
        self._held_marks: dict[str, set[int]] = {s: set() for s in SINKS}
        # Where the next prune's retention walk starts (monitord/store/retention.py): the
        # rows below it were deleted or kept when a walk passed them, and stay kept until
        # their queue row goes (`_unkept`, the lowest such id since: None, none).
        self._expire_from = 0
        self._unkept_low: int | None = None
        if memory:
            self._db = sqlite3.connect(":memory:", isolation_level=None)
        elif readonly:
            if not self.path.exists():
                raise OutboxError(f"{self.path}: no outbox here (has the daemon run yet?)")
            try:  # a directory, an empty or other file: one line, not an SQLite traceback
                # Also on a read-only file system (a card pulled and mounted read-only on
                # a laptop): before, `status` and `report --db` could not open it there.
                self._db = open_read_only(
                    self.path, "SELECT 1 FROM records LIMIT 0", isolation_level=None, timeout=5
                )
            except sqlite3.Error as e:
                raise OutboxError(self._unreadable(e)) from None
            except WalOnReadOnly:
                raise OutboxError(
                    f"{self.path}: cannot read it on a read-only file system: commits in its "
                    "-wal and no -shm, which SQLite needs to read them; mount it read-write, "
                    "or copy it with its -wal to a writable disk and read that"
                ) from None
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: the daemon's writer thread (monitord/store/writer.py)
            # uses this connection; the loop then reads through `_rdb` only.
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=5, check_same_thread=False
            )
        self._db.execute("PRAGMA busy_timeout = 5000")
        # Where the sinks' fetches and backlogs read: this connection, or a second one
        # once writes go to the writer thread (`use_writer`).
        self._rdb = self._db
        # Set by `use_writer`: runs a write job in the writer thread.
        self._submit: Callable[[Callable[[], object]], object] | None = None
        # Set by the daemon's StoreGuard (`fold_marks`): delivery marks are not written
        # on their own but with its next group commit (SD-card writes, issue 20); called
        # on the loop with the number of marks now held.
        self._marks_waiting: Callable[[int], None] | None = None
        if not readonly:
            # Page size and auto_vacuum must be chosen before the first table exists (an
            # existing store keeps its own). 1 KiB pages: a WAL commit writes whole pages,
            # and a chair's group commit changes a few rows on ~6 of them; at 4 KiB that
            # was ~4x the bytes on the SD card (issue 20, bench/results.md).
            self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and not memory:
                raise OutboxError(f"{self.path}: cannot use WAL journal (got {mode!r})")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate(progress)
        else:
            v = self._db.execute("PRAGMA user_version").fetchone()[0]
            if v > SCHEMA_VERSION:
                # Both versions and what to do: `status` and `report` on a Pi taken back to
                # an older package said only "newer than this monitord".
                raise SchemaTooNew(
                    f"{self.path}: schema v{v} is newer than this monitord (v{SCHEMA_VERSION}): "
                    "a newer monitord wrote it; read it with that version or a later one "
                    "(docs/install.md, going back to an older version)"
                )
        self._in_tx = False
        self._tx_pinned = False  # `begin()`: the level is fixed until the commit
        # Was the open transaction begun with synchronous=FULL? Only one holding nothing
        # but delivery marks / non-engine state is begun NORMAL (SQLite fixes the level
        # at BEGIN: it may not change inside a transaction).
        self._tx_full = True
        self._schema = self.schema_version()
        self._committed_max = self._max_id()
        # The next record id (records.py `_new_ids`): above every id this store ever
        # handed out that anything may still name, never reused (see _id_floor).
        self._next_id = self._id_at_begin = 0 if readonly else self._id_floor()
        self._ids_checked = False  # synced with the file in the open transaction?
        # The writer's open block of ids (monitord/store/blocks.py): its number and the
        # (min, max) measured t_ns of its readings (None: none yet). `_blk_open` None:
        # unknown, worked out from the file before the next reading is appended.
        self._blk_open: int | None = None
        self._blk_span: tuple[int, int] | None = None
        # Stamps given per series, to keep timestamps unique (monitord/store/stamps.py).
        self._stamps = Stamps(self._stored_stamps)
        self._drop_said = self._over_said = self._early_said = self._frag_said = False
        # The caller's checkpointer, asked after a prune (use_writer); None: the prune
        # checkpoints on its own connection.
        self._ask_checkpoint: Callable[[], None] | None = None

    def _unreadable(self, e: sqlite3.Error) -> str:
        """The one line for a store the read-only open refused."""
        if getattr(e, "sqlite_errorname", "") == "SQLITE_READONLY_DIRECTORY":
            # A store copied without its -shm into a folder this user cannot write: it is
            # one ("attempt to write a readonly database" said it was not); SQLite makes
            # the -shm of a WAL store even to read it.
            return (
                f"{self.path}: cannot open it read-only here: a store in WAL mode needs "
                f"{self.path.name}-shm beside it and this user cannot make files in "
                f"{self.path.parent}: copy the store (with its -wal file when there is one) "
                "to a folder this user can write"
            )
        free = free_bytes(self.path)
        if primary_code(e) in DISK_FAULTS and free is not None and free < FULL_DISK_BYTES:
            # SQLite makes a -shm even to read a WAL store; on a full disk it cannot and says
            # "disk I/O error": that read as a bad store, of one intact and kept.
            return (
                f"{self.path}: cannot read it: the disk it is on is full ({free} bytes free; "
                f"SQLite needs room beside the store even to read it: {e}); the store itself "
                "was not read: free space on that disk, then run this again"
            )
        return f"{self.path}: cannot read it as a monitord store ({e})"

    def use_writer(
        self,
        submit: Callable[[Callable[[], object]], object],
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        """From now on every write runs in the writer thread through `submit` (the caller
        sends its own; delivery marks are sent here) and the loop's reads use a second,
        read-only connection, which in WAL mode never waits for a commit. Not for a store
        in memory (a second connection would not see it; it has no fsync to avoid).
        `checkpoint` asks the caller's checkpointer for a checkpoint soon (after a prune)."""
        if self.memory or self.readonly:
            raise ValueError("a writer thread is for a file store opened for writing")
        self._rdb = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        self._rdb.execute("PRAGMA busy_timeout = 5000")
        self._rdb.execute("PRAGMA query_only = 1")
        self._submit = submit
        # Checkpoints are the caller's, in a thread of their own (monitord/store/
        # checkpoint.py): the automatic one would run inside whichever COMMIT crosses
        # the threshold, an alert's too.
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._ask_checkpoint = checkpoint
        # Nor does a prune checkpoint here (TRUNCATE, on the writer thread: an alarm
        # queued behind it waited for two fsyncs and the copying). The WAL file is then
        # never truncated to 0; SQLite cuts it back to this size when it is next reused.
        self._db.execute(f"PRAGMA journal_size_limit = {checkpoint_mod.WAL_RESET_BYTES}")
        # The stored stamps are read here, at the daemon's start, not at the first stamp
        # on the writer thread, which may be an alarm's commit (monitord/store/stamps.py).
        self._stamps.load()

    # -- schema --------------------------------------------------------------------------
    def _migrate(self, progress: Callable[[str], None] | None = None) -> None:
        v = self._db.execute("PRAGMA user_version").fetchone()[0]
        if v > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path}: schema v{v} is newer than this monitord (v{SCHEMA_VERSION}); "
                "upgrade monitord or move the file away"
            )
        # A new store gets the current schema at once (schema.py: FRESH_SCHEMA); an old one
        # the steps it lacks.
        if v == 0:
            steps = [(FRESH_SCHEMA, SCHEMA_VERSION)]
        else:
            steps = [(MIGRATIONS[i], i + 1) for i in range(v, SCHEMA_VERSION)]
        for script, to in steps:
            if progress is not None and v > 0:
                what = f"migrating the store to schema v{to}"
                progress(what)
                # Every ~100k SQLite instructions while the step runs (a large store's
                # step can take minutes); returns 0: never aborts it.
                self._db.set_progress_handler(functools.partial(progress, what), 100_000)
            failed: MigrationFailed | None = None
            bad: sqlite3.Error | None = None
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in split_sql(script):
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version = {to}")
                self._db.execute("COMMIT")
            except BaseException as e:
                # SQLite rolls the whole transaction back itself on some errors (a full
                # disk): a second ROLLBACK then raised "cannot rollback - no transaction
                # is active" in place of the reason.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if v == 0 or not isinstance(e, sqlite3.Error):
                    raise
                if primary_code(e) in FILE_FAULTS:
                    # SQLite met a malformed page in the step (quick_check does not
                    # compare an index with its table): the file is bad, not the step,
                    # and goes aside as any bad store (monitord/storeopen.py). Kept, it
                    # failed again at every start and the daemon ran from memory for good.
                    bad = e
                else:
                    failed = MigrationFailed(self._step_failed(to - 1, to, e))
                    failed.__cause__ = e
            finally:
                self._db.set_progress_handler(None, 0)
            if bad is not None:
                self._db.close()  # nothing holds the file it is moved aside
                raise bad
            if failed is not None:
                self._db.close()  # the store is the caller's to keep: nothing holds it
                raise failed
            log.info("outbox %s: schema migrated to v%d", self.path, to)

    def _step_failed(self, at: int, to: int, e: sqlite3.Error) -> str:
        """The line for a failed migration step, once its frames are given back: the WAL
        it grew (up to the whole disk when the disk ran out) is truncated, so the rest of
        the machine (its journal) is not left without space by a step that did nothing."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            st = os.statvfs(self.path.parent)
            free = f"{st.f_bavail * st.f_frsize / 1e6:.0f} MB free now"
        except OSError:
            free = "free space unknown"
        said = f"not migrated to schema v{to} ({e}): rolled back, kept as it was (v{at}); "
        if primary_code(e) not in DISK_FAULTS:  # IOERR, FULL
            return said + "report it with the journal (a failed step is a bug)"
        return said + (
            "a step rewrites up to the whole store: free a little more space beside it "
            f"than the store's {size / 1e6:.0f} MB ({free})"
        )

    def schema_version(self) -> int:
        v: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return v

    def _max_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM records").fetchone()
        return int(row[0] or 0)

    def _id_floor(self) -> int:
        """The first id a new record may take. Ids are never reused: a delivery mark held
        in memory or a sink's batch in flight may name a row a prune just deleted (the
        oldest undelivered readings, possibly the newest rows too), and a new row with
        that id would lose its queue entry to the stale mark. Without AUTOINCREMENT
        (new stores, schema.py) SQLite would hand out max(id) + 1, so the store counts on
        itself: above the rows, the quarantine's references and, in an AUTOINCREMENT
        store, its `sqlite_sequence`. Within a run ids only grow (`_next_id`); across a
        restart nothing in memory names a deleted row, and `pending` rows go in the
        same transaction as their record."""
        floor = self._max_id()
        row = self._db.execute("SELECT max(record_id) FROM quarantine").fetchone()
        floor = max(floor, int(row[0] or 0))
        with contextlib.suppress(sqlite3.OperationalError):  # no AUTOINCREMENT table
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
            ).fetchone()
            floor = max(floor, int(row[0]) if row else 0)
        return floor + 1

    def _new_ids(self, n: int) -> range:
        """`n` consecutive ids for records inserted in the open transaction."""
        if not self._ids_checked:
            # Another connection (a tool, a test) may have added rows since: go past them,
            # and forget the open block (those rows may be readings in it).
            top = self._max_id() + 1
            if top > self._next_id:
                self._next_id, self._blk_open = top, None
            self._ids_checked = True
        first = self._next_id
        self._next_id += n
        return range(first, first + n)

    # -- transactions --------------------------------------------------------------------
    def _begin(self, durability: Durability) -> None:
        """Open a write transaction unless one is open. A NORMAL one holds only delivery
        marks / status; SQLite fixes the synchronous level at BEGIN, so a SYNC write
        arriving in an open NORMAL transaction commits that one first and begins anew."""
        full = durability is Durability.SYNC
        if self._in_tx:
            if not full or self._tx_full or self._tx_pinned:
                return
            # A NORMAL transaction (status only) is open and something that must survive
            # power loss follows: commit the status part now, begin a SYNC one.
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
        self._id_at_begin, self._ids_checked = self._next_id, False

    def begin(self, durability: Durability) -> None:
        """Open a write transaction whose level is fixed: every write until `commit()`
        joins it whatever durability it asks for. The writer's group commit of readings
        alone is NORMAL (monitord/storeguard.py: no fsync; the next SYNC commit syncs it)."""
        if not self._in_tx:  # one already open keeps its level, now fixed
            self._begin(durability)
        self._tx_pinned = True

    def _end_tx(self, rollback: bool = False) -> None:
        self._tx_pinned = False
        try:
            self._db.execute("ROLLBACK" if rollback else "COMMIT")
            if rollback:
                self._stamps.undo()
                self._next_id = self._id_at_begin  # never seen outside the transaction
                self._blk_open = None  # its min/max may hold rolled-back readings
            self._stamps.kept()
        finally:
            self._in_tx = False
            if not self._tx_full:
                self._db.execute("PRAGMA synchronous = FULL")
                self._tx_full = True

    def _unkept(self, ids: Iterable[int]) -> None:
        """Queue rows of `ids` are being deleted (delivered, quarantined, released): rows
        a retention walk kept may be deletable now, so the next walk starts at them."""
        low = min(ids, default=None)
        if low is not None and (self._unkept_low is None or low < self._unkept_low):
            self._unkept_low = low

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
        self._tx_pinned = False
        if self._in_tx:
            self._next_id = self._id_at_begin  # ids of rows that never were
        self._blk_open = None  # the open block's min/max may hold rows that never were
        try:
            self._stamps.undo()
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            self._in_tx = False
            if not self._tx_full:
                self._tx_full = True
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        self.close_writes()
        self.close_reads()

    def close_writes(self) -> None:
        """Commit what is open, checkpoint (TRUNCATE) and close the write connection: the
        part of a close a disk can hang in (the daemon runs it in a thread it can give up:
        monitord/storestop.py; that connection is not bound to a thread)."""
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

    def close_reads(self) -> None:
        """Close the loop's read connection (after `close_writes`; on the thread that
        opened it: sqlite3 binds it to that thread)."""
        if self._rdb is not self._db:
            self._rdb.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unique_ns(self, key: Series, t_ns: int) -> int:
        # Undone by rollback(): a retried write (full disk) must get the same stamps.
        return self._stamps.unique(key, t_ns)

    def _stored_stamps(self) -> dict[Series, set[int]]:
        """The stamps per series of the newest `RESTART_IDS` records (ids only grow, so
        these are the last ones stored): one pass, at `use_writer` (a daemon's start) or
        else at the first stamp of a run, never again (monitord/store/stamps.py). SQLite
        picks out each reading's device; only the few event bodies are decoded here."""
        t0 = time.perf_counter()
        out: dict[Series, set[int]] = {}
        rows = self._db.execute(
            f"SELECT id, type, chair, t_ns, "
            f"CASE WHEN type = 'reading' THEN {SQL_READING_DEVICE} END, "
            "CASE WHEN type != 'reading' THEN body END "
            "FROM records WHERE id > ?",
            (self._max_id() - RESTART_IDS,),
        )
        for rid, rtype, chair, t_ns, device, text in rows:
            try:
                if rtype == "reading":
                    if not isinstance(device, str):
                        raise ValueError(f"no device in its body ({device!r})")
                    key = reading_series(chair, device)
                else:
                    key = record_series(rtype, chair, json.loads(text))
            except (ValueError, LookupError, TypeError) as e:
                # A body no sink can decode either (quarantined at fetch): it is no point
                # in InfluxDB, and the write that asked for a stamp must not fail on it.
                log.debug("outbox %s: record %d has no series (%s)", self.path, rid, e)
                continue
            out.setdefault(key, set()).add(int(t_ns))
        log.debug(
            "outbox %s: %d stamps of the newest records read in %.0f ms",
            self.path,
            sum(map(len, out.values())),
            (time.perf_counter() - t0) * 1000,
        )
        return out

    # -- counters ------------------------------------------------------------------------
    def _bump(self, name: str, n: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    def counters(self) -> dict[str, int]:
        # `_rdb`: read on the loop while the writer thread may be committing.
        # `bytes_upto` is the byte count's bookkeeping (an id, retention.py), not a count.
        return {
            k: int(v)
            for k, v in self._rdb.execute("SELECT name, value FROM counters")
            if k != "bytes_upto"
        }

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
