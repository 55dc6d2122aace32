"""Finding readings without an index on them (schema v6, SD-card writes, issue 20).

Readings are most of the store and arrive all the time; an index on (type, chair, t_ns)
cost every group commit a rewritten tail leaf and, every few commits, an index rebalance
(WAL pages on the SD card). So readings are found through their ids, which grow in append
order (`records` is a rowid table: an append touches its last leaf only):

- **Closed blocks.** Ids are cut into blocks of `BLOCK_IDS` (block = id >> `BLOCK_BITS`).
  When the first reading of a later block is appended, the writer closes the open block:
  one `reading_blocks` row with the min and max measured `t_ns` of its readings, written
  once, in the same transaction as that reading. Measured time is not append order (device
  clocks, records a cuff sends from its memory), hence min *and* max. A block without
  readings gets no row.
- **The open tail.** Every id above the highest closed block. Invariant: every reading
  below the tail lies in a block whose row covers its `t_ns` (ids only grow, so no
  reading is appended into a closed block). A prune only deletes rows, so a row stays a
  safe over-estimate; rows of blocks left empty go (retention.py).
- **The writer's open block**: its min/max are kept in memory (`_blk_span`) and worked out
  again from its rows (a rowid range, <= a block or two) when unknown: at open, after a
  rollback, after another connection appended rows.

A query by measured time reads `reading_blocks` (one row per 1024 records: ~1,700 rows
for 30 days of one chair), then the id ranges of the overlapping blocks and the tail,
filtering type, chair and `t_ns` in SQL. "Last" readings (status) scan back by id from
the newest record, a bounded number of blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitord.store.base import StoreBase

BLOCK_BITS = 10
BLOCK_IDS = 1 << BLOCK_BITS

# An id range [lo, hi]; hi None: to the end of the table.
IdRange = tuple[int, int | None]


def range_terms(
    lo_col: str, hi_col: str, lo: int | None, hi: int | None
) -> tuple[list[str], list[int]]:
    """SQL terms (and their arguments) for rows meeting [lo, hi): `lo_col >= lo` and
    `hi_col < hi`, each only when given (a row's own t_ns for both, or a block's max and
    min)."""
    terms: list[str] = []
    args: list[int] = []
    if lo is not None:
        terms.append(f"{lo_col} >= ?")
        args.append(lo)
    if hi is not None:
        terms.append(f"{hi_col} < ?")
        args.append(hi)
    return terms, args


class BlocksMixin(StoreBase):
    # -- writer side ------------------------------------------------------------------------
    def _blocks_load(self) -> None:
        """Work out the writer's open block from the file (in the write transaction): the
        readings above the highest closed block, per block. All but the highest of those
        blocks are complete (ids only grow) and are closed now; the highest stays open."""
        (top,) = self._db.execute("SELECT max(block) FROM reading_blocks").fetchone()
        start = 0 if top is None else (int(top) + 1) << BLOCK_BITS
        rows = self._db.execute(
            f"SELECT id >> {BLOCK_BITS}, min(t_ns), max(t_ns) FROM records "
            "WHERE id >= ? AND type = 'reading' GROUP BY 1 ORDER BY 1",
            (start,),
        ).fetchall()
        self._blk_open, self._blk_span = -1, None
        if rows:
            self._blocks_write(rows[:-1])
            b, lo, hi = rows[-1]
            self._blk_open, self._blk_span = int(b), (int(lo), int(hi))

    def _blocks_note(self, ids: range, t_ns: Sequence[int]) -> None:
        """Readings with these consecutive ids and measured times are being appended in the
        open transaction: widen the open block, close it when the ids move past it."""
        if self._blk_open is None:
            self._blocks_load()
        closed: list[tuple[int, int, int]] = []
        first, i, n = ids.start, 0, len(ids)
        while i < n:
            block = (first + i) >> BLOCK_BITS
            end = min(n, ((block + 1) << BLOCK_BITS) - first)  # first index past the block
            seg = t_ns[i:end]
            lo, hi = min(seg), max(seg)
            if block != self._blk_open:
                if self._blk_open is not None and self._blk_span is not None:
                    closed.append((self._blk_open, *self._blk_span))
                self._blk_open, self._blk_span = block, (lo, hi)
            elif self._blk_span is None:
                self._blk_span = (lo, hi)
            else:
                self._blk_span = (min(lo, self._blk_span[0]), max(hi, self._blk_span[1]))
            i = end
        self._blocks_write(closed)

    def _blocks_write(self, rows: Sequence[tuple[int, int, int]]) -> None:
        if rows:
            # A row already there (never, while ids only grow) is widened, never narrowed:
            # a row must cover every reading of its block.
            self._db.executemany(
                "INSERT INTO reading_blocks (block, min_t_ns, max_t_ns) VALUES (?, ?, ?) "
                "ON CONFLICT (block) DO UPDATE SET "
                "min_t_ns = min(min_t_ns, excluded.min_t_ns), "
                "max_t_ns = max(max_t_ns, excluded.max_t_ns)",
                rows,
            )

    # -- reader side --------------------------------------------------------------------------
    def _reading_id_ranges(self, since_ns: int | None, until_ns: int | None) -> list[IdRange]:
        """The id ranges that hold every reading measured in [since, until): the closed
        blocks whose [min, max] meets it, adjacent ones merged, and the open tail.

        Two statements, two snapshots (the loop's reader runs while the writer commits):
        safe, because a block closed in between lies above the first statement's tail,
        and a prune in between only removes rows."""
        cond, args = range_terms("max_t_ns", "min_t_ns", since_ns, until_ns)
        where = f" WHERE {' AND '.join(cond)}" if cond else ""
        out: list[IdRange] = []
        lo = hi = -2
        for (b,) in self._rdb.execute(f"SELECT block FROM reading_blocks{where} ORDER BY 1", args):
            if b != hi + 1:
                if lo >= 0:
                    out.append((lo << BLOCK_BITS, ((hi + 1) << BLOCK_BITS) - 1))
                lo = b
            hi = b
        if lo >= 0:
            out.append((lo << BLOCK_BITS, ((hi + 1) << BLOCK_BITS) - 1))
        (top,) = self._rdb.execute("SELECT max(block) FROM reading_blocks").fetchone()
        tail = 0 if top is None else (int(top) + 1) << BLOCK_BITS
        if out and out[-1][1] == tail - 1:  # the newest closed block joins the tail
            out[-1] = (out[-1][0], None)
        else:
            out.append((tail, None))
        return out

    def _id_windows_back(self, max_blocks: int) -> list[tuple[int, int]]:
        """Id windows [lo, hi] from the newest record backwards, growing (1, 2, 4, ...
        blocks) so a kind found near the top costs one small statement, and stopping
        after `max_blocks` blocks' worth of ids below the newest."""
        (top,) = self._rdb.execute("SELECT max(id) FROM records").fetchone()
        if top is None:
            return []
        floor = max(0, int(top) - max_blocks * BLOCK_IDS + 1)
        out: list[tuple[int, int]] = []
        hi, size = int(top), BLOCK_IDS
        while hi >= floor:
            lo = max(floor, hi - size + 1)
            out.append((lo, hi))
            hi, size = lo - 1, size * 2
        return out
