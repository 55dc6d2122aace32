"""Two `episodic` BLE cuffs on one chair (bumble GATT peripherals on the virtual link,
through bleak and drivers/ble_link.py), each pushing its memory and its new measurement
at once, while the nurse ends patient A's session and starts B's: the held readings of
both keep their place (monitord/chair_records.py), nothing is lost or taken twice, and
each cuff's memory record stays history (clinical-rules.md "Precise semantics")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from monitord.chair import DeviceCtx
from monitord.drivers.ble_link import LinkTiming
from monitord.engine.inputs import SessionCmd
from monitord.simulators.ble import SimCuff, VirtualBleLink

from .helpers import episodic_cuff, recorded_chair, stop, wait_until
from .test_e2e_link import bp, start_link

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)


async def test_two_cuffs_bursts_around_a_session_change_each_reading_once_in_its_session(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    chair, batches, task = recorded_chair(tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    links: list[asyncio.Task[None]] = []

    def cmd(action: Literal["start", "end"], sid: str | None = None) -> SessionCmd:
        return SessionCmd(chair.clock.now(), "chair-1", action, "esketamine", session_id=sid)

    old_a = [(bp(128, 84, 99, 70), now - timedelta(days=1))]  # each cuff's memory: history
    old_b = [(bp(118, 74, 89, 60), now - timedelta(days=2))]
    async with (
        SimCuff("CuffA", vlink, episodic=True, memory=old_a) as a,
        SimCuff("CuffB", vlink, episodic=True, memory=old_b) as b,
    ):
        for dev_id, name in (("arm-a", "CuffA"), ("arm-b", "CuffB")):
            dev = episodic_cuff(dev_id, name)
            links.append(start_link(vlink, DeviceCtx(chair, dev_id), dev, timing=FAST))
        try:
            assert await chair.command(cmd("start", "A")) is None
            # Both cuffs measured A at once: both connect and push (memory, then the new).
            await asyncio.gather(
                a.send(bp(150, 90, 110, 70), now), b.send(bp(146, 88, 107, 71), now)
            )
            # Every record received (held in its burst, or taken once the cuff hung up)
            # before the nurse ends A: all four are A's.
            await wait_until(
                lambda: chair.history.holding + sum(len(x.readings) for x in batches) == 4,
                what="both pushes received",
            )
            assert await chair.command(cmd("end")) is None
            assert await chair.command(cmd("start", "B")) is None
            await wait_until(
                lambda: sum(len(x.readings) for x in batches) == 4, what="both bursts taken"
            )
            await wait_until(lambda: chair.history.holding == 0, what="nothing held")
        finally:
            await stop(*links, task)

    got = sorted(
        (r.device, r.values["sys_mmHg"], r.stored, sid)
        for r, sid in chair.store.outbox.readings("chair-1")
    )
    # Each once: the memory records history, the new ones live, all received in A's session.
    assert got == [
        ("arm-a", 128, True, "A"),
        ("arm-a", 150, False, "A"),
        ("arm-b", 118, True, "A"),
        ("arm-b", 146, False, "A"),
    ]
    live = [r for x in batches for r in x.readings if not r.stored]
    assert len(live) == 2
    sessions = [(s.action, s.session_id) for x in batches for s in x.sessions]
    assert sessions == [("start", "A"), ("end", "A"), ("start", "B")]
