"""The store guard's task ends on a stop that arrives in the loop turn of a failed write.

The guard's retry-and-prune task (`StoreGuard.run`) waits for its next retry or prune, and
a failed write wakes it. It waited with `asyncio.wait_for`, which in Python 3.11 loses a
cancellation that comes in the same loop turn as the awaited event (monitord/aio.py): the
task went on retrying, and `monitord run` would hang on SIGTERM until systemd killed it.
A real full file system (a tmpfs) makes the writes fail."""

from __future__ import annotations

from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, reading
from tests.faults.storekit import fill, tmpfs
from tests.kit import stop_racing


async def test_a_stop_racing_a_failed_write_ends_the_guards_task(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        guard = StoreGuard(ob, TechAlarms(console=lambda _: None))
        filler = fill(disk)
        n = 0
        while not guard.holding:  # until the WAL's reusable space is used up too
            n += 1
            rows = [reading(100 + n * 50 + i) for i in range(50)]
            guard.write(StoreBatch("chair-1", runs=[(rows, "s-1")], events=[alert(n)]))
            assert n < 2000, "the full disk never refused a write"

        def failed_retry() -> None:
            assert not guard.flush()  # the disk still refuses: that wakes the task

        try:
            await stop_racing(lambda: guard.run(3600.0), failed_retry)
        finally:
            filler.unlink()
        assert guard.flush()  # and nothing held was lost on the way
        assert ob.count("alert") == n
        ob.close()
