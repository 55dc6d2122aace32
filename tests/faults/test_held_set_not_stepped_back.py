"""A held batch's active set, shown live, is not stepped back by an older batch's set
when the older batch is stored after it.

A hung write holds a batch (an alarm raised); `store.stalled` shows its set live. A later
batch (the latched alarm's clear condition met: `clear_pending`) is held as well and its
set shown. When the hung write returns, the older batch is stored and its `done`
published its own set, as of before the newer one: the retained `alerts/active` (a live
station applies any live set), the status and every listener went back to `active` until
the newer batch was stored, for as long as the disk kept refusing it. Now a stored batch
publishes its set only when no newer one was shown; its events still go out.

A daemon in-process, its writer held in a real COMMIT (tests/faults/writerkit.py).
"""

from __future__ import annotations

from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind, Reading
from tests.faults.writerkit import SlowCommits, reading, running, two_chairs
from tests.kit import eventually


def bp(sys_: float, dia: float) -> Reading:
    return reading("chair-a", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": dia})


async def test_an_older_batch_stored_later_does_not_step_the_set_back(tmp_path: Path) -> None:
    cfg = two_chairs(tmp_path, "held-order").replace(
        "commit_interval_s", "stall_alarm_after_s = 0.3\ncommit_interval_s"
    )
    daemon = Daemon(loads_config(cfg))
    slow = SlowCommits(daemon.outbox._db, rows_only=True)
    daemon.outbox._db = slow  # type: ignore[assignment]  # a test double
    shown: list[tuple[float | None, list[str], bool]] = []  # chair-a's sets: t, states
    events: list[tuple[str, bool]] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair != "chair-a":
            return
        events.extend((e.event, b.durable) for e in b.events)
        if b.active is not None:
            shown.append((b.t, [str(a["state"]) for a in b.active], b.durable))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        try:
            await eventually(lambda: shown, 5, "the start's active set")
            slow.hold.set()
            a.submit(bp(210, 100))  # bp.crisis, latching: its commit hangs
            await eventually(lambda: shown[-1][1:] == (["active"], False), 10, "raised, held")
            a.submit(bp(150, 90))  # the clear condition holds: no event
            a.submit(bp(150, 90))
            await eventually(lambda: shown[-1][1:] == (["clear_pending"], False), 10, "newer")
        finally:
            slow.gate.set()  # never leave the writer held: the stop waits for it
        await eventually(lambda: shown[-1][1:] == (["clear_pending"], True), 10, "all stored")
        assert [x["state"] for x in a.active] == ["clear_pending"]
    newest = shown.index((shown[-1][0], ["clear_pending"], False))
    # Before: (t_raised, ["active"], True) came here, after the newer set.
    assert [s for _, s, _ in shown[newest:]] == [["clear_pending"]] * len(shown[newest:]), shown
    times = [t for t, _, _ in shown if t is not None]
    assert times == sorted(times), shown
    assert events.count(("raised", True)) == 1, events  # the stored alarm still goes out
