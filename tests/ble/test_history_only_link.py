"""An oximeter whose connections give only its memory (spot-checks it marks "Measurement
From Storage", history fed to no rule) and no live value: the patient's SpO2 is not
watched, so its link is lost and `tech.device_lost` comes, as for a device that connects
and never notifies (drivers/ble_link.py module docstring).

Before, each such connection counted as a sign of life: the link went up on connecting,
down after `silence_s`, up again at the next connection a moment later, so it was never
down for `tech.device_lost`'s 30 s: no SpO2 and no alarm, for as long as the oximeter
kept re-sending its memory. A real PLX peripheral (bumble, the virtual link, bleak,
drivers/ble_link.py) and, in the second test, a real chair task and its engine.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.chair import DeviceCtx
from monitord.config import DeviceConfig
from monitord.drivers.ble_link import run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import VirtualBleLink, backends
from tests.kit import make_chair

from .helpers import RecordingContext, wait_until
from .test_e2e_link import running
from .test_plx_from_storage import FAST, SpotOximeter


def kept() -> list[tuple[float, datetime]]:
    """A spot-check of an earlier patient, kept in the oximeter's memory."""
    return [(97.0, datetime.now(UTC) - timedelta(days=1))]


async def test_connections_giving_only_stored_records_keep_the_link_down(
    vlink: VirtualBleLink,
) -> None:
    ctx = RecordingContext(device="ox")
    async with SpotOximeter("FingerOx", vlink, kept()) as ox:
        async with running(vlink, ctx, id="ox", driver="ble-plx", name="FingerOx", silence_s=0.3):
            await wait_until(lambda: len(ctx.links) >= 2, what="up, then silent")
            # three more connections, each sending the stored spot-check and nothing live
            await wait_until(lambda: len(ctx.readings) >= 4, what="re-sent memory")
            assert [up for up, _ in ctx.links] == [True, False], ctx.links  # was flapping
            why = ctx.links[1][1]  # (the seconds it counted vary: not asserted)
            assert why.startswith("only stored records: 1 from its memory, none live for "), why
            assert why.endswith(" s (limit 0.3 s)"), why
            for _ in range(50):  # a finger in: the oximeter's live SpO2 brings the link up
                await ox.send(
                    SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 70}), datetime.now(UTC)
                )
                if ctx.link_up:
                    break
                await asyncio.sleep(0.1)
            await wait_until(lambda: ctx.link_up, what="up with a live value")
    assert all("from_storage" in r.flags for r in ctx.readings if r.values["spo2_pct"] == 97.0)
    assert any(r.values["spo2_pct"] == 96.0 for r in ctx.readings)


async def test_an_oximeter_re_sending_its_memory_raises_device_lost(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    chair = make_chair(tmp_path, hub, '"tech.device_lost" = { after_s = 2 }')
    task = asyncio.create_task(chair.run())
    dev = DeviceConfig.model_validate(
        {"id": "ox", "driver": "ble-plx", "name": "FingerOx", "silence_s": 0.3}
    )
    client, scanner = backends(vlink)

    def lost() -> list[str]:
        return [e.event for b in batches for e in b.events if e.rule == "tech.device_lost"]

    async with SpotOximeter("FingerOx", vlink, kept()):
        link = asyncio.create_task(
            run_ble_device(
                dev,
                DRIVERS["ble-plx"],
                DeviceCtx(chair, "ox"),
                client_backend=client,
                scanner_backend=scanner,
                timing=FAST,
                rng=random.Random(1),
            )
        )
        try:
            await wait_until(lambda: "raised" in lost(), what="tech.device_lost")  # never came
        finally:
            link.cancel()
            task.cancel()
            await asyncio.gather(link, task, return_exceptions=True)
    stored = [r for b in batches for r in b.readings if r.kind is Kind.SPO2]
    assert stored and all(r.stored for r in stored), stored  # history, kept, fed to no rule
