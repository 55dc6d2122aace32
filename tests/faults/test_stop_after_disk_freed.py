"""A daemon stopped while a full disk holds its output, the disk freed since the last
retry (an operator frees space, then restarts the service): the stop stores what is held
and ends cleanly.

Before: the stop's flush (in the store-close thread) stored the held batches, then asked
for a group commit of the delivery marks, which needs the event loop: "RuntimeError: no
running event loop", a traceback and exit 1, and the close's last steps (checkpoint,
lock) not run. A real tmpfs filled to ENOSPC; the guard's own retry is kept from running
(its next try set past the test) so the stop is what meets the freed disk.
"""

from __future__ import annotations

import math
from pathlib import Path

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from monitord.outbox import Outbox
from tests.faults.storekit import fill, tmpfs, until_held
from tests.faults.writerkit import running, two_chairs


async def test_a_stop_after_the_disk_was_freed_stores_what_was_held(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "freed-at-stop")))
        async with running(daemon):  # before: its stop raised RuntimeError here
            filler = fill(disk)
            try:
                await until_held(daemon, "chair-a")
                daemon.store._next_try = math.inf  # no retry: the stop meets the freed disk
                held = sum(b.n_readings() for b in daemon.store.held)
                assert held > 0
            finally:
                filler.unlink()
        assert not daemon.store.held
        path = disk / "store.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        try:
            stored = len(ob.recent_readings("chair-a", Kind.HR, 1_000_000))
        finally:
            ob.close()
        assert stored >= held
