"""The store side of daemon outages (monitord/store/outages.py), without a daemon: how a
start dates the previous run's stop and which chairs get an outage. The daemon and the
report around it: tests/faults/test_daemon_outage.py."""

from __future__ import annotations

import time
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Durability, Outbox
from monitord.store import outages as outage_mod


def test_the_stop_is_dated_by_the_marker_unless_the_store_ran_on(tmp_path: Path) -> None:
    """Store side (no daemon): a clean stop's marker dates the outage; a marker a start
    could not clear (a full disk) is stale once that run wrote on, and a stop without one
    is dated by the store's last write; only chairs with a session open get an outage."""
    p = tmp_path / "outbox.sqlite"
    ob = Outbox(p, StorageConfig(path=p))
    try:
        assert outage_mod.last_alive(ob) == (None, False)  # a fresh store: no previous run
        ob.put_state("engine/chair-1", {}, durability=Durability.SYNC)
        t0 = time.time()
        alive, clean = outage_mod.last_alive(ob)
        assert alive is not None and abs(alive - t0) < 2 and not clean
        outage_mod.put_rows(ob, {outage_mod.STOPPED_KEY: {"t": t0 - 30}})
        ob.commit()
        assert outage_mod.last_alive(ob) == (t0 - 30, True)
        # Stale: written 100 s before the store's last write.
        outage_mod.put_rows(ob, {outage_mod.STOPPED_KEY: {"t": t0 - 100}})
        ob.commit()
        alive, clean = outage_mod.last_alive(ob)
        assert alive is not None and alive >= t0 - 2 and not clean

        rows = outage_mod.restart_state(
            ob, (t0 - 30, True), {"chair-1": outage_mod.Resumed("s-1", t0)}, keep_s=86400.0
        )
        assert rows[outage_mod.STOPPED_KEY] is None and "outages/chair-2" not in rows
        outage_mod.put_rows(ob, rows)
        ob.commit()
        assert outage_mod.outages(ob, "chair-1") == [outage_mod.Outage(t0 - 30, t0, True, "s-1")]
        assert outage_mod.outages(ob, "chair-2") == []
        # Kept for the retention only.
        rows = outage_mod.restart_state(
            ob, (t0 + 10, False), {"chair-1": outage_mod.Resumed("s-2", t0 + 20)}, 5.0
        )
        assert rows["outages/chair-1"] == [
            {"start": t0 + 10, "end": t0 + 20, "clean": False, "session": "s-2"}
        ]
    finally:
        ob.close()


def test_a_row_stamped_before_the_wall_clock_went_back_does_not_date_the_stop(
    tmp_path: Path,
) -> None:
    """A Pi that ran a day ahead (a bad RTC) until NTP set it back: a row rewritten only
    on a change (status, receipts, outages) keeps its stamp a day ahead. Before, that
    stamp was the last sign of life: a clean stop read as unclean, and every later start
    dated the previous run's stop a day ahead."""
    p = tmp_path / "outbox.sqlite"
    ob = Outbox(p, StorageConfig(path=p))
    try:
        ob.put_state("receipts", {}, durability=Durability.SYNC)
        ob._db.execute(  # as written under a wall clock a day ahead
            "UPDATE state SET updated_ns = ? WHERE key = 'receipts'",
            (time.time_ns() + 86400 * 10**9,),
        )
        ob.commit()
        ob.put_state("engine/chair-1", {}, durability=Durability.SYNC)
        t0 = time.time()
        outage_mod.put_rows(ob, {outage_mod.STOPPED_KEY: {"t": t0}})
        ob.commit()
        assert outage_mod.last_alive(ob) == (t0, True)
    finally:
        ob.close()
