"""Helpers of the storage fault tests (issue 12, defects 5, 6, 9, 10): real file systems
(tmpfs mounts, read-only remounts: the tests run as root), `monitord run` subprocesses and
`monitord status`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real small file system at `path`, unmounted however the test ends (lazily, so a
    daemon still holding a file cannot keep it mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system says ENOSPC; returns it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler


def monitord(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A `monitord` command line run to completion."""
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def on_read_only_card(card: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitord ARGS` run to completion with `card` bind-mounted read-only over itself, in
    a mount namespace of its own (`unshare -m`: the suite runs as root)."""
    cmd = shlex.join([sys.executable, "-m", "monitord", *args])
    script = f"mount --bind {card} {card} && mount -o remount,bind,ro {card} && exec {cmd}"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# The daemon's own Outbox in a process that ends without closing it (no checkpoint, no
# close): argv store, first reading, count, chair-1's session ("" for none), "empty" to
# checkpoint the -wal empty just before.
DIES_WITH_WAL = (
    "import os, sys; from pathlib import Path\n"
    "from monitord.config import StorageConfig\n"
    "from monitord.outbox import Outbox\n"
    "from tests.delivery.helpers import reading\n"
    "p = Path(sys.argv[1]); ob = Outbox(p, StorageConfig(path=p))\n"
    "ob._db.execute('PRAGMA wal_autocheckpoint = 0')\n"
    "first, n, session = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None\n"
    "ob.add_readings([reading(first + j) for j in range(n)], {'chair-1': session})\n"
    "ob.commit()\n"
    "if sys.argv[5] == 'empty': ob._db.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchall()\n"
    "os._exit(0)\n"
)


def die_with_wal(
    store: Path, first: int, count: int, session: str | None = None, *, empty: bool = False
) -> None:
    """A daemon that died with commits in `store`'s -wal: chair-1's readings `first` to
    `first + count - 1` (in `session`) committed, nothing checkpointed (`empty`: the -wal
    checkpointed to 0 bytes just before, its -shm left as it was)."""
    r = subprocess.run(
        [sys.executable, "-c", DIES_WITH_WAL, str(store), str(first), str(count),
         session or "", "empty" if empty else "full"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r


async def until_held(daemon: Any, chair: str) -> None:
    """On a filled disk: readings for `chair` of an in-process daemon until the store
    refuses a commit (the WAL's reusable space used up too) and holds."""
    from monitord.models import Kind
    from tests.faults.writerkit import reading

    for _ in range(500):
        if "store.unwritable" in daemon.alarms.active:
            break
        for _ in range(200):
            daemon.chairs[chair].submit(reading(chair, Kind.HR, {"hr_bpm": 70.0}))
        await asyncio.sleep(0.05)
    assert daemon.store.holding, "the full disk never refused a write"
