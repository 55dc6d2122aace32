"""What a held batch changes on the station shows while the store cannot take it.

A batch the store holds (a full disk, a hung write: monitord/storeguard.py) was shown live
only when it carried an alert event. Two changes the station shows come without one, and
stayed unseen until the disk took a batch again (minutes to hours on a full SD card):
- a latched alert whose clear condition starts (or stops) holding: `alerts/active` and the
  station kept `active` where the set says `clear_pending`;
- a nurse's session command applied in a batch whose commit then failed (answered
  "applied, but not stored"): the tile kept the old phase, with no observation timer.
Now the held batch's active set and session go out, still not `durable`.

A daemon in-process (no devices: readings are submitted to the chair); the first test's
store is on a real tmpfs filled to ENOSPC, the second's writer hangs in a real COMMIT
(tests/faults/writerkit.py) until `store.stalled` holds the batches.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine.inputs import SessionCmd
from monitord.hub import CommittedBatch
from monitord.models import Kind, Reading
from monitord.storebatch import not_stored
from tests.faults.storekit import fill, tmpfs, until_held
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually


def bp(sys_: float, dia: float) -> Reading:
    return reading("chair-a", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": dia})


def states(b: CommittedBatch) -> list[str]:
    return [str(a["state"]) for a in b.active or ()]


async def test_a_latched_clear_shows_while_the_disk_is_full(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "held-clear")))
        shown: list[tuple[list[str], bool]] = []  # chair-a's active states, durable

        def listener(b: CommittedBatch) -> None:
            if b.chair == "chair-a" and b.active is not None:
                shown.append((states(b), b.durable))

        daemon.hub.subscribe(listener, "test")
        async with running(daemon):
            a = daemon.chairs["chair-a"]
            a.submit(bp(210, 100))  # bp.crisis: 1 reading, latching
            await eventually(lambda: shown[-1:] == [(["active"], True)], 20, "bp.crisis stored")
            filler = fill(disk)
            try:
                await until_held(daemon, "chair-b")
                # The clear condition holds (2 readings under 180/110), no alert event.
                a.submit(bp(150, 90))
                a.submit(bp(150, 90))
                await eventually(lambda: a.engine.held("chair-a") == (True,), 20, "held")
                # Before: nothing shown; the station kept "active" until the disk was freed.
                await eventually(lambda: shown[-1] == (["clear_pending"], False), 10,
                                 "clear_pending shown while the disk is full")  # fmt: skip
                assert [x["state"] for x in a.active] == ["clear_pending"]  # status too
                assert daemon.store.holding
            finally:
                filler.unlink()
            await eventually(lambda: "store.unwritable" not in daemon.alarms.active, 20, "freed")
            await eventually(lambda: shown[-1] == (["clear_pending"], True), 10, "stored")


async def test_a_session_command_held_by_a_hung_write_shows_on_the_station(
    tmp_path: Path,
) -> None:
    cfg = two_chairs(tmp_path, "held-session").replace(
        "commit_interval_s", "stall_alarm_after_s = 0.3\ncommit_interval_s"
    )
    daemon = Daemon(loads_config(cfg))
    slow = SlowCommits(daemon.outbox._db, rows_only=True)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    shown: list[tuple[list[str], dict[str, Any] | None, bool]] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.active is not None:
            shown.append(([s.action for s in b.sessions], b.session, b.durable))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        try:
            await eventually(lambda: shown, 5, "the start's active set")
            n = len(shown)
            slow.hold.set()
            start = SessionCmd(a.clock.now(), "chair-a", "start", "esketamine")
            answer = await asyncio.wait_for(a.command(start), 10)
            assert answer == not_stored("its writes hang")  # the stall, not the disk
            assert "store.stalled" in daemon.alarms.active
            # Before: nothing reached the hub; the station kept the chair idle.
            await eventually(lambda: len(shown) > n, 5, "the held session start shown")
            actions, session, durable = shown[n]
            assert (actions, durable) == (["start"], False)
            assert session is not None and session["phase"] != "idle", session
            assert session["protocol"] == "esketamine"
        finally:
            slow.gate.set()  # never leave the writer held: the stop waits for it
        await eventually(lambda: shown[-1][2], 10, "the session start stored and shown")
        assert shown[-1][0] == ["start"]
