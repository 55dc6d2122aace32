"""Where a store's WAL bytes go: the frames of the WAL's current generation (since its last
reset by a checkpoint), grouped by commit and mapped to what each page holds.

`python -m bench.walpages STORE` on a running daemon's store prints the frames per commit
by owner: a table or index (via SQLite's `dbstat` on a private copy of the file and its
WAL), `page1` (the header: size and free-list fields change whenever a page is allocated
or freed), `ptrmap` (the auto-vacuum pointer map), `free` (a page freed since). Used by
bench/sdcard.py for the SD-card write figures (issue 20).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

WAL_HEADER = 32
FRAME_HEADER = 24


def wal_frames(wal: bytes) -> tuple[int, list[tuple[int, bool]]]:
    """(page size, [(page number, is a commit frame)]) of the frames of the current
    generation: a frame whose salts differ from the header's is left over from an earlier
    one (the WAL is reused from its start after a checkpoint)."""
    if len(wal) < WAL_HEADER:
        return 0, []
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    out: list[tuple[int, bool]] = []
    off = WAL_HEADER
    while off + FRAME_HEADER + page_size <= len(wal):
        page, size_after = struct.unpack(">II", wal[off : off + 8])
        if wal[off + 8 : off + 16] != salts:
            break
        out.append((page, size_after != 0))
        off += FRAME_HEADER + page_size
    # Frames after the last commit frame belong to a transaction not yet committed.
    while out and not out[-1][1]:
        out.pop()
    return page_size, out


def page_owners(store: Path) -> dict[int, str]:
    """page -> what it holds, from a copy of the store and its WAL (never the live file:
    opening it would take part in its locking)."""
    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / "copy.sqlite"
        shutil.copy(store, copy)
        wal = Path(f"{store}-wal")
        if wal.exists():
            shutil.copy(wal, Path(f"{copy}-wal"))
        db = sqlite3.connect(copy)
        try:
            owners = {p: str(n) for n, p in db.execute("SELECT name, pageno FROM dbstat")}
            owners[1] = "page1"
            usable = db.execute("PRAGMA page_size").fetchone()[0]
            if db.execute("PRAGMA auto_vacuum").fetchone()[0]:
                # Pointer-map pages: page 2, then one every usable/5 + 1 pages.
                count = db.execute("PRAGMA page_count").fetchone()[0]
                p = 2
                while p <= count:
                    owners[p] = "ptrmap"
                    p += usable // 5 + 1
        finally:
            db.close()
    return owners


def summary(store: Path) -> dict[str, Any]:
    """Commits and frames of the WAL's current generation, frames per commit by owner."""
    wal = Path(f"{store}-wal")
    page_size, frames = wal_frames(wal.read_bytes() if wal.exists() else b"")
    owners = page_owners(store)
    commits = sum(1 for _, c in frames if c)
    by: Counter[str] = Counter(owners.get(p, "free") for p, _ in frames)
    return {
        "page_size": page_size,
        "commits": commits,
        "frames": len(frames),
        "frames_per_commit": round(len(frames) / commits, 2) if commits else None,
        "by_owner_per_commit": {k: round(v / commits, 2) for k, v in by.most_common()}
        if commits
        else {},
    }


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1])), indent=2))
