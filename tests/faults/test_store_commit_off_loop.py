"""Issue 20: the store's commits run off the event loop (monitord/store/writer.py).

Fault injection: the SQLite COMMIT of the running daemon is made as slow as the test
wants, the way an SD card's fsync is: a wrapper around the store's connection holds every
COMMIT until the test opens a gate (or 10 s pass: then the test fails instead of hanging).
While chair B's readings are stuck inside that commit:
- the event loop keeps turning: a heartbeat task counts its ticks *during* the commit
  (before the fix the commit ran on the loop, which could not tick at all until it
  returned: zero ticks);
- chair A keeps taking input and its engine raises an alarm at once;
- nothing of either batch is published before its commit returned (durable before
  delivered), and both are published, B's before A's, once it has.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind
from monitord.outbox import Outbox
from tests.faults.writerkit import SlowCommits, reading, two_chairs
from tests.kit import eventually


async def test_loop_turns_and_other_chair_alarms_while_a_commit_is_stuck(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "slow-disk")))
    # Only a commit with rows waits: a status commit a timer starts between `hold` and
    # B's batch must not be the one stuck (A's alarm would then rightly go before B's
    # readings, monitord/storeguard.py alarms_to_front, and the order check fail).
    slow = SlowCommits(daemon.outbox._db, rows_only=True)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    published: list[tuple[str, int, int, bool]] = []  # chair, readings, events, in commit

    def listener(b: CommittedBatch) -> None:
        if not (b.readings or b.events):
            return  # the active set each chair starts with
        published.append((b.chair, len(b.readings), len(b.events), slow.inside.is_set()))

    daemon.hub.subscribe(listener, "test")
    task = asyncio.create_task(daemon.run())
    ticks_inside = 0

    async def heartbeat() -> None:
        nonlocal ticks_inside
        while True:
            await asyncio.sleep(0.005)
            if slow.inside.is_set():
                ticks_inside += 1

    beat = asyncio.create_task(heartbeat())
    try:
        await eventually(lambda: daemon.supervisor is not None and "chair:chair-b" in
                         daemon.supervisor.tasks)  # fmt: skip
        a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
        slow.hold.set()
        b.submit(reading("chair-b", Kind.HR, {"hr_bpm": 72.0}))
        # Chair B's commit gets stuck at the gate. Off the loop, the loop goes on (before
        # the fix it was stuck with it: no tick ever saw the commit, this wait fails):
        await asyncio.to_thread(slow.inside.wait, 10)
        await eventually(lambda: ticks_inside >= 20, what="heartbeat ticks during the commit")
        a.submit(reading("chair-a", Kind.BP, {"sys_mmHg": 215.0, "dia_mmHg": 125.0}))
        await eventually(lambda: any(x["rule"] == "bp.crisis" for x in a.engine.active("chair-a")),
                         what="chair A's engine raised while B's commit is stuck")  # fmt: skip
        assert slow.inside.is_set()
        assert published == []  # nothing is delivered before it is durable
        slow.hold.clear()
        slow.gate.set()
        await eventually(lambda: any(c == "chair-a" and e for c, _, e, _ in published),
                         what="chair A's alert published after its commit")  # fmt: skip
    finally:
        beat.cancel()
        slow.gate.set()
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
    assert slow.threads == {"store-writer"}  # the commit ran in the writer thread
    assert not any(inside for *_, inside in published)
    order = [c for c, *_ in published]
    assert order.index("chair-b") < order.index("chair-a")  # commit order kept
    path = tmp_path / "store.sqlite"
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        assert ob.count("reading") == 2 and ob.count("alert") >= 1
