"""The active set a commit shows is the one of its own batch, never a later one's.

A chair's batches pipeline: while one alarm's commit is in the store's writer thread, the
chair task goes on with the next readings, and the engine may raise a second alarm whose
batch waits for the next commit. Before, the first commit's callback asked the engine for
the active set *then*, so `alerts/active` (retained) and the station showed the second
alarm before its event was stored: a crash at that moment left a published alarm with no
record of it. Now each batch takes its active set and session when the engine made them,
and its commit shows exactly that; the second alarm shows with its own commit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually

# Each rule raises on one reading.
ALERTS = '"spo2.very_low" = { for_s = 0 }\n"hr.very_high" = { for_s = 0 }\n'


def rules(b: CommittedBatch) -> list[str]:
    return sorted(str(a["rule"]) for a in b.active or ())


async def test_a_commit_shows_its_own_active_set_not_a_later_batchs(tmp_path: Path) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "as-committed", alerts=ALERTS)))
    slow = SlowCommits(daemon.outbox._db)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    store = daemon.store
    shown: list[tuple[list[str], list[str], bool]] = []  # active set, events' rules, stored

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.events:
            shown.append((rules(b), sorted(e.rule for e in b.events), b.durable))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        try:
            a = daemon.chairs["chair-a"]
            await eventually(lambda: store._timer is None and not store._busy and not store._live,
                             what="the store idle")  # fmt: skip
            slow.hold.set()
            a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
            await asyncio.to_thread(slow.inside.wait, 10)  # the SpO2 alarm's commit is stuck
            a.submit(reading("chair-a", Kind.HR, {"hr_bpm": 170.0}))
            # The engine has raised the HR alarm; its batch waits behind the stuck commit.
            await eventually(lambda: len(store.held) == 2, what="the HR alarm's batch queued")
            assert "hr.very_high" in {x["rule"] for x in daemon.chairs["chair-a"].engine.active(
                "chair-a")}  # fmt: skip
            slow.hold.clear()
            slow.gate.set()
            await eventually(lambda: len(shown) >= 2, what="both commits shown")
        finally:
            slow.gate.set()  # never leave the writer held: the stop waits for it
    spo2, hr = shown[0], shown[1]
    # Before: the first commit already showed ["hr.very_high", "spo2.very_low"].
    assert spo2 == (["spo2.very_low"], ["spo2.very_low"], True)
    assert hr == (["hr.very_high", "spo2.very_low"], ["hr.very_high"], True)
    assert a.active == a.engine.active("chair-a")  # the last commit's set
