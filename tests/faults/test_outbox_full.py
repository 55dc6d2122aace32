"""Issue 12, defect 5, store level: the outbox and its guard on a real full file system
(a tmpfs mounted here). Proves: a batch the disk refuses is held (not lost, not raised as
a crash) and stored, in order and with the stamps it would have had, once space returns;
delivery marks the full disk refuses are held in memory, so a sink neither crashes nor
gets the same rows again, and are written later."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from monitord import storeguard
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.delivery.helpers import alert, reading
from tests.faults.storekit import fill, tmpfs


def test_guard_holds_on_enospc_and_stores_everything_after(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        alarms: list[str] = []
        guard = StoreGuard(ob, TechAlarms(console=alarms.append))
        done: list[int] = []
        ids = []
        first = [reading(i) for i in range(30)]
        assert guard.write(
            StoreBatch("chair-1", runs=[(first, "s-1")], done=lambda: done.append(0))
        )
        ids = [r.id for r in ob.fetch("influx", 1000)]

        filler = fill(disk)
        n = 0
        while not guard.holding:  # until the WAL's reusable space is used up too
            n += 1
            batch = StoreBatch(
                "chair-1",
                runs=[([reading(100 + n * 50 + i) for i in range(50)], "s-1")],
                events=[alert(n)],
                done=partial(done.append, n),
            )
            guard.write(batch)
            assert n < 2000, "the full disk never refused a write"
        held = n
        more = StoreBatch("chair-1", events=[alert(held + 1)], done=lambda: done.append(-1))
        assert not guard.write(more)  # held behind the first, in order
        assert any("TECHNICAL ALARM store.unwritable" in a for a in alarms)
        # A sink confirms rows while the disk is full: no exception, rows not fetched again.
        ob.mark_delivered("influx", ids)
        assert not {r.id for r in ob.fetch("influx", 1000)} & set(ids)

        filler.unlink()
        assert guard.flush()
        assert done == [*range(held + 1), -1]  # every batch, in order
        assert any("store.unwritable cleared" in a for a in alarms)
        assert ob.count("alert") == held + 1
        assert ob.count("reading") == 30 + held * 50
        stamps = [row.t_ns for row in ob.fetch("influx", 100_000)]
        assert len(stamps) == len(set(stamps))
        ob.close()
        ob = Outbox(path, StorageConfig(path=path))
        pending = {r.id for r in ob.fetch("influx", 100_000)}
        assert not pending & set(ids)  # the held delivery marks reached the disk
        ob.close()


def test_held_readings_are_bounded_alert_events_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk full for hours: the oldest held readings beyond the bound are dropped and
    counted (alarm `store.held_dropped`); every held alert event is stored afterwards."""
    monkeypatch.setattr(storeguard, "HELD_READINGS_MAX", 200)
    with tmpfs(tmp_path / "disk", "1m") as disk:
        path = disk / "outbox.sqlite"
        ob = Outbox(path, StorageConfig(path=path))
        alarms: list[str] = []
        guard = StoreGuard(ob, TechAlarms(console=alarms.append))
        filler = fill(disk)
        sent = n = 0
        while not guard.holding or n < 40:
            n += 1
            rs = [reading(n * 50 + i) for i in range(50)]
            sent += len(rs)
            guard.write(StoreBatch("chair-1", runs=[(rs, "s-1")], events=[alert(n)]))
            assert n < 2000, "the full disk never refused a write"
        stored_before = ob.count("reading")
        assert guard.dropped_held > 0
        assert any("store.held_dropped" in a for a in alarms)
        filler.unlink()
        assert guard.flush()
        assert ob.count("alert") == n  # every alert event, however long the outage
        assert ob.count("reading") == sent - guard.dropped_held
        assert ob.count("reading") - stored_before <= 200
        ob.close()
