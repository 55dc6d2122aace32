"""Issue 12, defect 5 (a full disk): "nothing the engine emitted is lost ... and commands
are never left unanswered"; monitord/storeguard.py: a held batch's alarms "show live on
the console and in the retained MQTT active set". That holds for the batches whose own
commit fails when the disk fills, not only for those written after the store is known to
be failing: the guard tells them at the failure (`tell_held`). Told at no point, the
alarms raised in the commit that met the full disk reached the station (and the nurse's
command in it its answer) only once the disk was freed.

Found by mutation: dropping that call passed test_store_full, test_held_batch_shown and
test_active_set_as_committed (their alarms come after the store already holds). Here
every batch of chair-a raises or clears hr.high, so the commit that meets the full disk
carries alert events. A daemon in-process on a real tmpfs filled to ENOSPC
(tests/faults/storekit.py); readings submitted to the chair.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind
from tests.faults.storekit import fill, tmpfs
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually

ALERTS = '"hr.high" = { for_s = 0, clear_for_s = 0, latching = false }\n'


async def test_alarms_of_the_commit_that_met_the_full_disk_show_before_it_is_freed(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        daemon = Daemon(loads_config(two_chairs(disk, "failing-commit", alerts=ALERTS)))
        shown: set[tuple[str, str]] = set()  # (alert_id, event) published for chair-a

        def listener(b: CommittedBatch) -> None:
            if b.chair == "chair-a":
                shown.update((str(e.alert_id), e.event) for e in b.events)

        daemon.hub.subscribe(listener, "test")
        async with running(daemon):
            a = daemon.chairs["chair-a"]
            filler = fill(disk)
            sent = raised = 0
            try:
                for _ in range(500):  # until the WAL's reusable space is used up too
                    if "store.unwritable" in daemon.alarms.active:
                        break
                    for i in range(100):  # each batch raises and clears hr.high
                        hr = 130.0 if i % 2 == 0 else 100.0
                        a.submit(reading("chair-a", Kind.HR, {"hr_bpm": hr}))
                        raised += hr > 120
                    sent += 100
                    await asyncio.sleep(0.05)
                assert daemon.store.holding, "the full disk never refused a write"
                await eventually(lambda: a.processed >= sent, 30, "every reading processed")
                # Before the disk is freed: every raise the engine made was shown.
                got = sum(1 for _aid, ev in shown if ev == "raised")
                assert got == raised, f"{raised - got} raised events not shown while held"
            finally:
                filler.unlink()
            await eventually(lambda: "store.unwritable" not in daemon.alarms.active, 20, "freed")
