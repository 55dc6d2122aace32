"""A device link that flaps (a loose plug, a driver bug on every few lines) does not cost
the SD card a commit per change: its changes reach `monitord status` at once LINK_BURST
times, then once per LINK_PROMPT_S, the rest with the group commits (issue 20).

A real daemon in process and its real store; the store connection of the writer thread
is wrapped to count transactions (as tests/faults/test_group_commit_writes.py does). The
group-commit interval is 60 s, so every commit seen while the link flaps is a prompt one.
Fails without the bound (one commit per change).
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from monitord import daemon as daemon_mod
from monitord.chair import DeviceStatus
from monitord.chair_inputs import LinkChange
from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.faults.test_group_commit_writes import Transactions
from tests.kit import eventually

FLAPS = 20


def _is(device: DeviceStatus, link: str) -> bool:
    return device.link == link


async def test_a_flapping_link_is_written_at_once_a_bounded_number_of_times(
    tmp_path: Path,
) -> None:
    cfg = loads_config(
        '[site]\nid = "flap"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\ncommit_interval_s = 60\n'
        '[[chairs]]\nid = "chair-1"\n[[chairs.devices]]\nid = "ox"\n'
        f'driver = "masimo-ascii"\nport = "{tmp_path / "absent.tty"}"\n'
    )
    daemon = Daemon(cfg)
    tx = Transactions(daemon.outbox._db)
    daemon.outbox._db = tx  # type: ignore[assignment]  # a test double
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.supervisor is not None, what="daemon up")
        chair = daemon.chairs["chair-1"]
        await eventually(lambda: chair.devices["ox"].link == "down", what="ox down (no port)")
        store = daemon.store
        await asyncio.sleep(0.5)  # the start's own prompt commits (its first status) done
        await eventually(lambda: not store._busy, what="the store idle")
        tx.recording.set()
        for i in range(FLAPS):
            want = "up" if i % 2 == 0 else "down"
            chair.submit(LinkChange("ox", want == "up", chair.clock.now(), "flap"))
            await eventually(functools.partial(_is, chair.devices["ox"], want))
            await eventually(lambda: not store._busy)
        await asyncio.sleep(0.5)  # a prompt commit the last change asked for
        tx.recording.clear()
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
    # The flapping took well under LINK_PROMPT_S: its burst alone, not FLAPS commits.
    assert 1 <= len(tx.committed) <= daemon_mod.LINK_BURST, tx.committed
