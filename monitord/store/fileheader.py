"""A store's schema version read from its files' bytes, without SQLite: `monitord doctor`
must not create or change anything beside the store, and any SQLite connection to a WAL
store, read-only too, makes its `-shm` file when there is none (as root it even makes one
the service user then owns). Source: SQLite's file format only (sqlite.org/fileformat2.html,
"The Database Header" and "The Write-Ahead Log"); tests/ops/test_doctor_store.py holds it
against WAL files SQLite itself wrote.

The newest committed version may still be in the -wal file (a daemon killed or stopped
before its checkpoint): the last copy of page 1 in a committed transaction of the WAL's
valid frames wins over the file's own header. A frame is valid while its salts are the
header's and its cumulative checksum holds; the first that is not ends the log (a torn
write, or an older generation of the WAL that a restarted log is overwriting)."""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"SQLite format 3\x00"
USER_VERSION_AT = 60  # 4-byte big-endian signed integer in page 1's database header
HEADER_BYTES = 100
WAL_HEADER = 32
FRAME_HEADER = 24
WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums of little- / big-endian 32-bit words


def user_version(path: Path) -> int | None:
    """The store's `PRAGMA user_version` as SQLite would read it now; None if the file
    is not an SQLite database (or empty). OSError if it or its -wal cannot be read here
    (a -wal this user cannot read may hold a newer version: unknown, not the header's)."""
    with path.open("rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        return None
    in_wal = _wal_page1(Path(f"{path}-wal"))
    return _version_of(head if in_wal is None else in_wal)


def _version_of(page1: bytes) -> int:
    return int.from_bytes(page1[USER_VERSION_AT : USER_VERSION_AT + 4], "big", signed=True)


def foreign_wal(path: Path) -> bool:
    """True when `path` is in rollback-journal mode and a -wal beside it holds committed
    transactions: the -wal is another database's. The daemon's store is always in WAL
    mode (header bytes 18 and 19 are 2); a `monitord backup` copy is in rollback mode (1),
    so this is a restored copy put over the main file only, beside the -wal of the store
    it replaced (a daemon killed, or a card's power cut, leaves commits there). SQLite
    applies any -wal whose own checksums hold, whatever file it sits beside: the replaced
    store's pages over the copy's, its checkpoint then writing them into the file."""
    with path.open("rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC) or head[18:20] != b"\x01\x01":
        return False
    return _wal_scan(Path(f"{path}-wal"))[1]


def _wal_page1(wal: Path) -> bytes | None:
    """The newest committed copy of page 1 in `wal`, None if it holds none (or no -wal)."""
    return _wal_scan(wal)[0]


def _wal_scan(wal: Path) -> tuple[bytes | None, bool]:
    """(the newest committed copy of page 1 in `wal` or None, whether it holds any
    committed transaction); (None, False) with no -wal."""
    try:
        f = wal.open("rb")
    except FileNotFoundError:
        return None, False
    with f:
        head = f.read(WAL_HEADER)
        if len(head) < WAL_HEADER:
            return None, False
        magic, _, page_size, _, salt1, salt2, c1, c2 = struct.unpack(">8I", head)
        if magic not in WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
            return None, False
        order = ">" if magic & 1 else "<"
        sums = _checksum(order, head[:24], (0, 0))
        if sums != (c1, c2):
            return None, False
        committed = pending = None
        commits = False
        while True:
            frame = f.read(FRAME_HEADER + page_size)
            if len(frame) < FRAME_HEADER + page_size:
                return committed, commits
            page, commit, s1, s2, f1, f2 = struct.unpack(">6I", frame[:FRAME_HEADER])
            if (s1, s2) != (salt1, salt2):
                return committed, commits
            sums = _checksum(order, frame[:8], sums)
            sums = _checksum(order, frame[FRAME_HEADER:], sums)
            if sums != (f1, f2):
                return committed, commits
            if page == 1:
                pending = frame[FRAME_HEADER:]
            if commit:  # the last frame of a transaction: what it wrote is the database's
                committed = pending if pending is not None else committed
                pending = None
                commits = True


def _checksum(order: str, data: bytes, sums: tuple[int, int]) -> tuple[int, int]:
    """SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing `sums`."""
    s0, s1 = sums
    words = struct.unpack(f"{order}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1
