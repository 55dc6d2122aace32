"""Retention and the disk budget (`storage.max_mb`), applied by `prune()`; the order of
what goes is in monitord/outbox.py's docstring."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitord.store.base import Durability
from monitord.store.blocks import BLOCK_BITS
from monitord.store.codec import DELIVERED, SINKS
from monitord.store.delivery import DeliveryMixin, chunks

log = logging.getLogger("monitord.outbox")

# Free pages beyond this share of the file go back to the file system at a prune.
VACUUM_FREE_SHARE = 0.10
# One prune step, one writer-thread job: an alarm submitted meanwhile waits for one step,
# not for the prune (issue 20). 500 rows take ~5 ms here; a prune of a store that has just
# reached its budget deletes a tenth of it (200,000 rows of a 512-MB store).
PRUNE_STEP_ROWS = 500
VACUUM_STEP_PAGES = 2048  # 2 MiB of 1-KiB pages given back per step
# Ids a step reads at most looking for rows to delete: the rows it passes over (kept, not
# delivered: an outage's) cost a step too.
SCAN_STEP_IDS = 5000
MAX_BUDGET_ROUNDS = 4  # the budget is measured again after each round (_budget_step)
# State key (+ chair): the newest measured time (t_ns) of that chair's rows the budget
# deleted before their retention. A report from this store of a session at or before it
# lacks them, and says so (monitord/report/load.py).
PRUNED_KEY = "pruned/"
# Delivered (or quarantined, or never routed) to every sink: nothing queued. A lookup of
# the queue's key per row; `id NOT IN (SELECT record_id FROM pending)` read the whole
# queue into a list at each statement (37 ms with 100,000 rows queued, each step).
DELIVERED_EVERYWHERE = (
    "NOT EXISTS (SELECT 1 FROM pending WHERE sink IN "
    f"({', '.join(repr(s) for s in SINKS)}) AND record_id = records.id)"
)
# What goes over the budget, in order: delivered rows (readings, then session events,
# then alert events, the last local history to go), then undelivered readings. Never an
# undelivered alert or session event.
SHRINK_ORDER = (
    (f"{DELIVERED_EVERYWHERE} AND type = 'reading'", "pruned_early"),
    (f"{DELIVERED_EVERYWHERE} AND type = 'session'", "pruned_early"),
    (f"{DELIVERED_EVERYWHERE} AND type = 'alert'", "pruned_early"),
    ("type = 'reading'", "dropped_readings"),
)


@dataclass
class PruneRun:
    """One prune, as a sequence of `prune_step` calls (each a bounded transaction)."""

    now_ns: int
    done: dict[str, int] = field(
        default_factory=lambda: {"expired": 0, "pruned_early": 0, "dropped_readings": 0}
    )
    stage: str = "start"  # start, expire, budget, vacuum, done
    cutoff_ns: int = 0  # rows added and measured before it are past retention
    bound: int = 0  # the retention DELETE's id bound (_expiry_bound)
    # Where the next step's search starts: the rows below were deleted or are kept (not
    # delivered); each step reading them again would make an outage's rows cost each step.
    from_id: int = 0
    # The first id the walk kept for its measured time (a delivered row stamped past the
    # cutoff: a chair clock ahead of the wall clock): the next walk starts there.
    held_at: int | None = None
    expired_any: bool = False
    budget: int = 0  # the round's budget for the counted bytes (0: not measured)
    counted: int = 0  # the counted bytes when the round began
    target: int | None = None  # the round's target (None: no round under way)
    rounds: int = 0
    kind: int = 0  # the SHRINK_ORDER entry being deleted
    in_kind: bool = False
    vacuumed: bool = False


class RetentionMixin(DeliveryMixin):
    # Delivery marks held in memory must be written before pruning: hence DeliveryMixin.
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

    def _expiry_bound(self, cutoff_ns: int) -> int:
        """An id bound for the retention DELETE: the first row at or past it was added at
        or after `cutoff_ns`. Rows are added in id order, so `added_ns` rises with the id
        (but for a wall-clock step) and a bisection of the primary key finds the bound in
        ~25 lookups. Without it the DELETE read the whole table at every prune, on the
        writer thread (alarms queue behind it): a 512-MB store on a Pi, every minute. A
        row added before a clock step back and lying past the bound goes at a later
        prune, once the bound has passed it."""
        lo = self._db.execute("SELECT min(id) FROM records").fetchone()[0]
        if lo is None:
            return 0
        hi = self._max_id() + 1
        while lo < hi:  # rows at ids < lo were added before cutoff_ns
            mid = (lo + hi) // 2
            row = self._db.execute(
                "SELECT id, added_ns FROM records WHERE id >= ? ORDER BY id LIMIT 1", (mid,)
            ).fetchone()
            if row is None or row[1] >= cutoff_ns:
                hi = mid
            else:
                lo = row[0] + 1
        return int(lo)

    def _first_id_from(self, from_id: int) -> int:
        """The first record id at or after `from_id`; past the last one, its id + 1."""
        row = self._db.execute(
            "SELECT id FROM records WHERE id >= ? ORDER BY id LIMIT 1", (from_id,)
        ).fetchone()
        return int(row[0]) if row is not None else max(from_id, self._max_id() + 1)

    def _file_pages_bytes(self) -> int:
        """Bytes of every page of the database, free ones included: the file's size once
        the WAL is checkpointed into it."""
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        return int(pages * page_size)

    def _db_bytes(self) -> int:
        """What the disk budget counts: the size of the stored records (JSON bodies + a
        fixed per-row overhead for keys and indexes). Page counts would not do: a few kept
        alert rows pin half-empty pages, and the budget would then eat every reading to
        free nothing. The `bytes` counter holds the rows up to id `bytes_upto` (a DELETE
        trigger keeps it exact); the rows after it, added since the last `_settle_bytes`,
        are summed here (a range of the primary key, no scan of the table)."""
        counted, upto = self._bytes_counter()
        if upto is None:  # schema v4 and older (read-only): the counter counts every row
            return counted
        return counted + self._bytes_after(upto)

    def _bytes_after(self, upto: int) -> int:
        """The counted size of the rows after id `upto` (a range of the primary key)."""
        (tail,) = self._db.execute(
            "SELECT coalesce(sum(length(body) + 64), 0) FROM records WHERE id > ?", (upto,)
        ).fetchone()
        return int(tail)

    def _bytes_counter(self) -> tuple[int, int | None]:
        rows = dict(
            self._db.execute(
                "SELECT name, value FROM counters WHERE name IN ('bytes', 'bytes_upto')"
            ).fetchall()
        )
        upto = rows.get("bytes_upto")
        return int(rows.get("bytes", 0)), None if upto is None else int(upto)

    def _settle_bytes(self) -> None:
        """Fold the rows added since the last call into the `bytes` counter, once per
        prune instead of once per append (the counter's row was a page of WAL in every
        group commit, issue 20). NORMAL: counter and mark move together or not at all, so
        a power loss that rolls this back leaves the older pair, as exact."""
        counted, upto = self._bytes_counter()
        top = self._max_id()
        if upto is None or top <= upto:
            return
        self._begin(Durability.NORMAL)
        self._db.executemany(
            "UPDATE counters SET value = ? WHERE name = ?",
            [(counted + self._bytes_after(upto), "bytes"), (top, "bytes_upto")],
        )
        self._end_tx()

    def prune(self, now_ns: int | None = None) -> dict[str, int]:
        """Apply retention and the disk budget (module docstring), all steps at once.
        Returns what was done. The daemon runs the steps as separate writer-thread jobs
        instead (`prune_step`, monitord/storeguard.py), so alarms go in between."""
        run = PruneRun(time.time_ns() if now_ns is None else now_ns)
        while self.prune_step(run):
            pass
        return run.done

    def prune_step(self, run: PruneRun) -> bool:
        """One bounded step of `run`: at most PRUNE_STEP_ROWS rows deleted or
        VACUUM_STEP_PAGES pages given back, in one transaction. True: call again."""
        if run.stage == "start":
            self._prune_start(run)
            run.stage = "expire"
        elif run.stage == "expire":
            if not self._expire_step(run):
                run.stage = "budget"
        elif run.stage == "budget":
            if not self._budget_step(run):
                run.stage = "vacuum"
        elif run.stage == "vacuum":
            if not self._vacuum_step(run):
                self._prune_end(run)
                run.stage = "done"
        return run.stage != "done"

    def _prune_start(self, run: PruneRun) -> None:
        if self._in_tx:
            self.commit()
        # Delivery marks held in memory (disk was full) go first: they make rows prunable.
        for sink in SINKS:
            if self._held_marks[sink]:
                self._set_state(sink, [], DELIVERED)
        self._settle_bytes()
        # Clamped at the epoch: no row is older, and a retention of centuries (a site's
        # "keep everything", retention_days = 1e6) put the cutoff below SQLite's 64-bit
        # integers (OverflowError: the store crashed at every prune); past 1e300 days the
        # float itself overflowed.
        keep_ns = min(self.cfg.retention_days * 86_400 * 1e9, float(run.now_ns))
        run.cutoff_ns = max(0, run.now_ns - int(keep_ns))
        run.bound = self._expiry_bound(run.cutoff_ns)
        # The walk starts where the last one ended, or lower at a row whose queue row went
        # since (delivered after an outage): a row it kept is kept until then. From 0 at
        # every prune, an InfluxDB outage made each minute's prune read every row past
        # retention again (45 days of one chair's outage: 940,000 rows in 188 steps).
        if self._unkept_low is not None:
            self._expire_from = min(self._expire_from, self._unkept_low)
            self._unkept_low = None
        run.from_id = self._expire_from

    def _expire_step(self, run: PruneRun) -> bool:
        """Delete up to PRUNE_STEP_ROWS delivered rows past retention; True if there may
        be more. NORMAL: a power loss may bring them back, and the next prune deletes
        them again (no fsync a minute on the SD card, none in an alarm's way)."""
        self._begin(Durability.NORMAL)
        if not run.expired_any:
            self._db.execute("DELETE FROM quarantine WHERE at_ns < ?", (run.cutoff_ns,))
        # From the first row on: ids below it were deleted (months of them, at a prune
        # each minute), and windows of empty ids would be steps for nothing.
        run.from_id = start = self._first_id_from(run.from_id)
        upto = min(run.bound, run.from_id + SCAN_STEP_IDS)
        ids = [
            rid
            for (rid,) in self._db.execute(
                "DELETE FROM records WHERE id IN (SELECT id FROM records WHERE id >= ? AND "
                f"id < ? AND {DELIVERED_EVERYWHERE} AND added_ns < ? AND t_ns < ? ORDER BY id "
                "LIMIT ?) RETURNING id",
                (run.from_id, upto, run.cutoff_ns, run.cutoff_ns, PRUNE_STEP_ROWS),
            ).fetchall()
        ]
        if ids:
            self._drop_empty_blocks(ids)
        self._end_tx()
        run.expired_any = True
        run.done["expired"] += len(ids)
        run.from_id = max(ids) + 1 if len(ids) == PRUNE_STEP_ROWS else upto
        if run.held_at is None and start < run.from_id:
            # Kept for its times, not its queue (measured past the cutoff: a chair clock
            # ahead of the wall clock; added so: before a wall-clock step back): no mark
            # will say when it may go, so the next walk starts at it.
            (run.held_at,) = self._db.execute(
                "SELECT min(id) FROM records WHERE id >= ? AND id < ? AND "
                "(t_ns >= ? OR added_ns >= ?)",
                (start, run.from_id, run.cutoff_ns, run.cutoff_ns),
            ).fetchone()
        if run.from_id < run.bound:
            return True  # the budget's rounds start from 0 again
        self._expire_from = run.bound if run.held_at is None else min(run.held_at, run.bound)
        return False

    def _budget_step(self, run: PruneRun) -> bool:
        """Up to PRUNE_STEP_ROWS rows toward the budget; True while over it.

        The budget is for the file on disk; the counter counts the rows' bodies. Scale it
        by what the file really takes per counted byte (indexes, page slack), measured at
        each round; capped, so half-empty pages pinned by kept rows cannot make it eat
        every reading to free nothing (see _db_bytes). Measured again after each round of
        deletes: the fixed pages (alert rows and their index, the schema, page slack) weigh
        more per counted byte once readings went, and a budget worked out before the
        deletes could leave the store over the next prune's budget, which would then drop
        more readings at every call (the 90 % target must hold against the scale the next
        prune sees). Converges in two or three rounds."""
        if run.target is None:  # a new round
            if run.rounds >= MAX_BUDGET_ROUNDS:
                return False
            disk_budget = int(self.cfg.max_mb * 1024 * 1024)
            run.counted = max(self._db_bytes(), 1)
            scale = min(3.0, max(1.0, self._page_bytes() / run.counted))
            run.budget = int(disk_budget / scale)
            if run.counted <= run.budget:
                return False
            # Free down to 90 % of the budget so we do not prune on every call at the edge.
            run.target, run.kind, run.in_kind, run.from_id = int(run.budget * 0.9), 0, False, 0
        left = PRUNE_STEP_ROWS
        while run.kind < len(SHRINK_ORDER):
            where, counter = SHRINK_ORDER[run.kind]
            if not run.in_kind:
                if self._db_bytes() <= run.budget:
                    break
                run.in_kind = True
            n, out, run.from_id = self._shrink(where, run.target, counter, left, run.from_id)
            run.done[counter] += n
            left -= n
            if not out:
                if self._db_bytes() > run.target:
                    return True  # this step's rows are spent: more of the same next step
                break  # at the target: the round is over
            run.kind, run.in_kind, run.from_id = run.kind + 1, False, 0  # none left
        run.rounds += 1
        run.target = None
        if self._db_bytes() >= run.counted:
            run.rounds = MAX_BUDGET_ROUNDS  # nothing more may go (undelivered events only)
        return True

    def _vacuum_step(self, run: PruneRun) -> bool:
        """Give back up to VACUUM_STEP_PAGES free pages; True if more were free. Begun
        only when free pages are over VACUUM_FREE_SHARE of the file (after deletes). Below
        that SQLite reuses them: a few are always free (a rewritten state row frees its
        overflow pages), and moving pages for them at every prune would be SD-card writes
        for nothing. Once begun, carried on until a step finds no more than it may give
        back: other commits free a few pages between steps, and the prune must not chase
        them. `executescript` steps the pragma to its end; `execute` steps a statement
        without result columns once, and `incremental_vacuum` frees one page per step (it
        freed one page a prune)."""
        free: int = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        if not run.vacuumed:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            if not free or free <= VACUUM_FREE_SHARE * pages:
                return False
        elif not free:
            return False
        assert not self._db.in_transaction  # executescript would commit it first
        # No fsync (as the deletes): the pages moved come back with a power loss, and go
        # again at the next prune. The connection's level (FULL) is set back after.
        try:
            self._db.executescript(
                f"PRAGMA synchronous = NORMAL; PRAGMA incremental_vacuum({VACUUM_STEP_PAGES});"
            )
        finally:
            self._db.execute("PRAGMA synchronous = FULL")
        run.vacuumed = True
        # More to give back, and this step did give some (none in a file made without
        # auto_vacuum: there the pragma does nothing, see _prune_end).
        left: int = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return free > VACUUM_STEP_PAGES and 0 < left < free

    def _prune_end(self, run: PruneRun) -> None:
        done = run.done
        if done["pruned_early"]:
            said, self._early_said = self._early_said, True
            log.log(
                logging.INFO if said else logging.WARNING,
                "outbox %s over its disk budget (storage.max_mb = %g): deleted %d "
                "delivered rows before their retention; local history is shorter",
                self.path,
                self.cfg.max_mb,
                done["pruned_early"],
            )
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
        if run.vacuumed:
            # The file shrinks once a checkpoint copies the vacuumed pages back. With a
            # writer thread that is the checkpointer's, in its own thread (PASSIVE): here
            # it held every alarm queued behind the prune for two fsyncs and the copying
            # (issue 20; tens of ms on an SD card).
            if self._ask_checkpoint is not None:
                self._ask_checkpoint()
            else:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk_budget = self.cfg.max_mb * 1024 * 1024
        file_bytes = 0 if self.memory else self._file_pages_bytes()
        if file_bytes > 1.5 * disk_budget and self._db_bytes() <= run.budget:
            # Rows under the budget, the file far over it: pages the incremental vacuum
            # cannot give back (a file made without auto_vacuum, or half-empty pages).
            # A VACUUM would rewrite the whole file on the writer thread, every alarm
            # queued behind it (a minute for 512 MB on an SD card): not while monitoring.
            said, self._frag_said = self._frag_said, True
            log.log(
                logging.DEBUG if said else logging.WARNING,
                "outbox %s takes %.1f MB on disk for %.1f MB of rows (storage.max_mb = "
                "%g); its free space is not given back while monitord runs: stop "
                "monitord and run `sqlite3 %s VACUUM` to compact it",
                self.path,
                file_bytes / 2**20,
                self._page_bytes() / 2**20,
                self.cfg.max_mb,
                self.path,
            )
        if run.budget and self._db_bytes() > run.budget:
            said, self._over_said = self._over_said, True
            log.log(
                logging.DEBUG if said else logging.CRITICAL,
                "outbox %s still over its disk budget (storage.max_mb = %g) with "
                "undelivered alert/session events only; nothing more may be dropped",
                self.path,
                self.cfg.max_mb,
            )

    def _drop_empty_blocks(self, deleted: list[int] | None = None) -> None:
        """Delete the `reading_blocks` rows of id blocks left without any record (in the
        prune's transaction). Only those: a block that kept some rows keeps its min/max,
        a safe over-estimate once rows are gone (monitord/store/blocks.py). `deleted`: the
        ids just deleted (only their blocks are looked at); None: every block."""
        blocks = "1"
        args: list[int] = []
        if deleted is not None:
            args = sorted({i >> BLOCK_BITS for i in deleted})
            blocks = f"block IN ({','.join('?' * len(args))})"
        self._db.execute(
            f"DELETE FROM reading_blocks WHERE {blocks} AND NOT EXISTS (SELECT 1 FROM records "
            f"WHERE id BETWEEN block << {BLOCK_BITS} AND ((block + 1) << {BLOCK_BITS}) - 1)",
            args,
        )

    def _note_pruned(self, marks: str, ids: Sequence[int]) -> None:
        """Raise each chair's PRUNED_KEY to the newest measured time of the rows `ids`,
        about to be deleted early (in their transaction). Without it a report of a
        session whose readings went for the budget (four chairs reach 512 MB in about two
        weeks, docs/scaling.md) read "MISSING (no valid BP ...)" and "SpO2 MISSING", as if
        no vital sign had been taken, with nothing saying the store had deleted them."""
        self._db.executemany(
            "INSERT INTO state (key, value, updated_ns) VALUES (?, CAST(? AS TEXT), ?) "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), "
            "CAST(excluded.value AS INTEGER)) AS TEXT), updated_ns = excluded.updated_ns",
            [
                (PRUNED_KEY + chair, t_ns, time.time_ns())
                for chair, t_ns in self._db.execute(
                    f"SELECT chair, max(t_ns) FROM records WHERE id IN ({marks}) GROUP BY chair",
                    ids,
                )
            ],
        )

    def _shrink(
        self, where: str, target: int, counter: str, at_most: int, from_id: int
    ) -> tuple[int, bool, int]:
        """Delete the oldest rows matching `where` from id `from_id` on until the stored
        size is under `target`, exactly as many as needed (the budget counts bodies, see
        _db_bytes), and `at_most` of them. Returns (deleted, none left matching `where`,
        the id to search from next). `counter` counts them in the same transaction: rows
        + counter always add up. NORMAL, as expiry. Reads SCAN_STEP_IDS ids at most."""
        total = 0
        from_id = self._first_id_from(from_id)  # over the ids deleted before (see expiry)
        if from_id > self._max_id():
            return total, True, from_id
        end = from_id + SCAN_STEP_IDS
        while total < at_most and (excess := self._db_bytes() - target) > 0:
            if from_id >= end:
                break  # this step read its share: on from here next step
            ids: list[int] = []
            freed = 0
            for rid, size in self._db.execute(
                f"SELECT id, length(body) + 64 FROM records WHERE id >= ? AND id < ? AND "
                f"{where} ORDER BY id LIMIT ?",
                (from_id, end, min(500, at_most - total)),
            ):
                ids.append(rid)
                freed += size
                if freed >= excess:
                    break
            if not ids:
                from_id = end
                break
            self._begin(Durability.NORMAL)
            for chunk in chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                self._note_pruned(marks, chunk)
                self._db.execute(f"DELETE FROM records WHERE id IN ({marks})", chunk)
                # An undelivered reading dropped leaves its queues too (one range per
                # sink: the queue's key is (sink, record_id)).
                for sink in SINKS:
                    self._db.execute(
                        f"DELETE FROM pending WHERE sink = ? AND record_id IN ({marks})",
                        (sink, *chunk),
                    )
            self._drop_empty_blocks(ids)
            self._bump(counter, len(ids))
            self._end_tx()
            total += len(ids)
            from_id = ids[-1] + 1
        return total, False, from_id
