"""Retention and the disk budget (`storage.max_mb`), applied by `prune()`; the order of
what goes is in monitord/outbox.py's docstring."""

from __future__ import annotations

import logging
import os
import time

from monitord.store.base import Durability
from monitord.store.blocks import BLOCK_BITS
from monitord.store.codec import DELIVERED, SINKS
from monitord.store.delivery import DeliveryMixin, chunks

log = logging.getLogger("monitord.outbox")

# Free pages beyond this share of the file go back to the file system at a prune.
VACUUM_FREE_SHARE = 0.10


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

    def _give_back_free_pages(self) -> bool:
        """Return the free pages to the file system when they are over VACUUM_FREE_SHARE
        of the file (after deletes); True if it did. Below that SQLite reuses them: a few
        are always free (a rewritten state row frees its overflow pages), and moving pages
        for them at every prune would be SD-card writes for nothing. `executescript` steps
        the pragma to its end; `execute` steps a statement without result columns once,
        and `incremental_vacuum` frees one page per step (it freed one page a prune)."""
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        if not free or free <= VACUUM_FREE_SHARE * pages:
            return False
        assert not self._db.in_transaction  # executescript would commit it first
        self._db.executescript("PRAGMA incremental_vacuum;")
        return True

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
        """Apply retention and the disk budget (module docstring). Returns what was done."""
        if self._in_tx:
            self.commit()
        # Delivery marks held in memory (disk was full) go first: they make rows prunable.
        for sink in SINKS:
            if self._held_marks[sink]:
                self._set_state(sink, [], DELIVERED)
        self._settle_bytes()
        now_ns = time.time_ns() if now_ns is None else now_ns
        done = {"expired": 0, "pruned_early": 0, "dropped_readings": 0}
        # Delivered (or quarantined, or never routed) to every sink: nothing queued.
        delivered = "id NOT IN (SELECT record_id FROM pending)"
        cutoff = now_ns - int(self.cfg.retention_days * 86_400 * 1e9)
        self._db.execute("BEGIN IMMEDIATE")
        cur = self._db.execute(
            f"DELETE FROM records WHERE id < ? AND {delivered} AND added_ns < ? AND t_ns < ?",
            (self._expiry_bound(cutoff), cutoff, cutoff),
        )
        done["expired"] = cur.rowcount
        self._db.execute("DELETE FROM quarantine WHERE at_ns < ?", (cutoff,))
        if cur.rowcount:
            self._drop_empty_blocks()
        self._db.execute("COMMIT")

        disk_budget = int(self.cfg.max_mb * 1024 * 1024)
        # The budget is for the file on disk; the counter counts the rows' bodies. Scale it
        # by what the file really takes per counted byte (indexes, page slack), measured
        # now; capped, so half-empty pages pinned by kept rows cannot make it eat every
        # reading to free nothing (see _db_bytes). Measured again after each round of
        # deletes: the fixed pages (alert rows and their index, the schema, page slack)
        # weigh more per counted byte once readings went, and a budget worked out before
        # the deletes could leave the store over the next prune's budget, which would then
        # drop more readings at every call (the 90 % target must hold against the scale
        # the next prune sees). Converges in two or three rounds.
        budget = disk_budget
        for _ in range(4):
            counted = max(self._db_bytes(), 1)
            scale = min(3.0, max(1.0, self._page_bytes() / counted))
            budget = int(disk_budget / scale)
            if counted <= budget:
                break
            # Free down to 90 % of the budget so we do not prune on every call at the edge.
            target = int(budget * 0.9)
            # Delivered rows first, readings before session events before alert events:
            # alert events are the last local history to go.
            for rtype in ("reading", "session", "alert"):
                if self._db_bytes() <= budget:
                    break
                done["pruned_early"] += self._shrink(
                    f"{delivered} AND type = '{rtype}'", target, "pruned_early"
                )
            if self._db_bytes() > budget:
                done["dropped_readings"] += self._shrink(
                    "type = 'reading'", target, "dropped_readings"
                )
            if self._db_bytes() >= counted:
                break  # nothing more may go (undelivered alert/session events only)
        if done["pruned_early"]:
            log.warning(
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
        vacuumed = self._give_back_free_pages()
        if vacuumed:
            # The file shrinks once a checkpoint copies the vacuumed pages back. With a
            # writer thread that is the checkpointer's, in its own thread (PASSIVE): here
            # it held every alarm queued behind the prune for two fsyncs and the copying
            # (issue 20; tens of ms on an SD card).
            if self._ask_checkpoint is not None:
                self._ask_checkpoint()
            else:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if any(done.values()) or vacuumed:
            # The file's size once checkpointed (a WAL not yet copied back is not in it).
            file_bytes = 0 if self.memory else self._file_pages_bytes()
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
            for chunk in chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
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
            self._db.execute("COMMIT")
            total += len(ids)
        return total
