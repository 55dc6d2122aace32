"""A stop that stores what a full disk held (the disk freed meanwhile) writes no status
after the store is closed.

The stop's close stores the held batches in the `store-close` thread, closes the store's
write connection, then tells each stored batch on the loop's thread (its `done`:
storestop.py). A held alarm's batch carries its chair's active set, and since status is
written at once on a change of the active set (daemon.py `_status_listener`), telling it
wrote status through the closed connection: "listener status: failed on a batch of
chair-b: ProgrammingError('Cannot operate on a closed database.') (a bug: please report
it)" at ERROR in the journal of every such stop. The status written before the close is
the last one; nothing is written after it now. A real tmpfs filled to ENOSPC.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from monitord.outbox import Outbox
from tests.faults.storekit import fill, tmpfs, until_held
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually


async def test_a_stop_storing_a_held_alarm_writes_nothing_after_the_close(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "stop-status")))
        async with running(daemon):
            filler = fill(disk)
            try:
                await until_held(daemon, "chair-a")
                daemon.store._next_try = math.inf  # no retry: the stop meets the freed disk
                bp: dict[str, float | None] = {"sys_mmHg": 210.0, "dia_mmHg": 100.0}  # crisis
                daemon.chairs["chair-b"].submit(reading("chair-b", Kind.BP, bp))
                held = daemon.store.held
                await eventually(lambda: any(b.events for b in held), 10, "chair-b's alarm held")
            finally:
                filler.unlink()
        assert not daemon.store.held  # the stop stored it
        path = disk / "store.sqlite"
        with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
            assert ob.count("alert") >= 1
    # The store's CRITICAL technical alarm is expected; an ERROR is a bug's line.
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == []
