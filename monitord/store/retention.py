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
            f"DELETE FROM records WHERE {delivered} AND added_ns < ? AND t_ns < ?",
            (cutoff, cutoff),
        )
        done["expired"] = cur.rowcount
        self._db.execute("DELETE FROM quarantine WHERE at_ns < ?", (cutoff,))
        if cur.rowcount:
            self._drop_empty_blocks()
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
