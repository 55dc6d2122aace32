"""A pulse oximeter that keeps its spot-checks sends them again when a hub connects, each
with the measurement status bit "Measurement From Storage" (PLX service, 0x2A5E): the
device itself says the reading is history. clinical-rules.md "Precise semantics": a
measurement a device pushes from its memory is stored, marked `stored`, shown in reports,
and fed to no rule.

Before, only BP bursts were told stored: a stored spot-check, unless the chair had taken
it already, went in as the patient's live SpO2. A fingertip oximeter clipped on to check a
patient before discharge pushed an 88 % of an earlier patient: `session.discharge_ready`,
raised, was withdrawn ("SpO2 below 94 in the last 5 min"), and the stored 88 % was this
patient's SpO2 in the chair's readings.

A real chair task on the wall clock and a real PLX oximeter (a bumble GATT peripheral on
the virtual link, through bleak and drivers/ble_link.py); the BP readings and session
commands go through the chair's queue as a cuff's and MQTT's do.
"""

from __future__ import annotations

import asyncio
import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bumble.core import UUID
from bumble.gatt import Characteristic, Service

from monitord.chair import DeviceCtx, LinkChange
from monitord.config import DeviceConfig
from monitord.drivers.ble_gatt import encode_date_time
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.drivers.sfloat import encode_sfloat
from monitord.engine.inputs import SessionAction, SessionCmd
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading, utc
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimOximeter, VirtualBleLink, backends
from tests.kit import make_chair

from .helpers import wait_until

FAST = LinkTiming(scan_timeout_s=0.5, connect_timeout_s=5.0, backoff_scale=0.01)
FROM_STORAGE = 1 << 9  # PLX measurement status: Measurement From Storage
_NO_PERMISSION = Characteristic.Permissions(0)


class SpotOximeter(SimOximeter):
    """A continuous PLX oximeter that also keeps spot-checks: it indicates the ones it
    holds (0x2A5E, timestamp and measurement status "from storage") on subscription."""

    def __init__(self, name: str, link: VirtualBleLink, kept: list[tuple[float, datetime]]):
        self.kept = kept
        self._pushes: set[asyncio.Task[None]] = set()
        super().__init__(name, link)

    def _services(self) -> list[Service]:
        services = super()._services()
        self.spot = Characteristic(
            UUID.from_16_bits(0x2A5E), Characteristic.Properties.INDICATE, _NO_PERMISSION, b""
        )
        services[0].characteristics.append(self.spot)
        return services

    @staticmethod
    def spot_check(spo2: float, at: datetime) -> bytes:
        flags = 0x01 | 0x02  # timestamp, measurement status
        return (
            struct.pack("<BHH", flags, encode_sfloat(spo2, 0), encode_sfloat(70, 0))
            + encode_date_time(at)
            + struct.pack("<H", FROM_STORAGE)
        )

    def _on_subscribed(self, characteristic: Characteristic[bytes]) -> None:
        if characteristic is self.spot:
            task = asyncio.get_running_loop().create_task(self._push())
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)

    async def _push(self) -> None:
        for spo2, at in self.kept:
            await self._indicate(self.spot, self.spot_check(spo2, at))


async def test_a_spot_check_the_oximeter_sends_from_storage_is_history(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    # Observation met one second after dose start: the discharge check runs at once.
    chair = make_chair(tmp_path, hub, '"session.discharge_ready" = { esketamine_observe_s = 1 }')
    task = asyncio.create_task(chair.run())
    now = datetime.now(UTC).replace(microsecond=0)

    async def cmd(action: SessionAction) -> None:
        sent = SessionCmd(chair.clock.now(), "chair-1", action, "esketamine")
        assert await chair.command(sent) is None

    def readings(kind: Kind) -> list[Reading]:
        return [r for b in batches for r in b.readings if r.kind == kind]

    def events(rule: str) -> list[str]:
        return [e.event for b in batches for e in b.events if e.rule == rule]

    def bp(sys_: float, dia: float) -> None:
        at = utc(chair.clock.now())
        values = {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": None, "pulse_bpm": 70.0}
        chair.submit(Reading("chair-1", "cuff", Kind.BP, values, at, at))

    dev = DeviceConfig.model_validate({"id": "ox", "driver": "ble-plx", "name": "FingerOx"})
    client, scanner = backends(vlink)
    kept = [(88.0, now - timedelta(days=1))]  # an earlier patient's spot-check
    link: asyncio.Task[None] | None = None
    async with SpotOximeter("FingerOx", vlink, kept) as ox:
        try:
            await cmd("start")
            chair.submit(LinkChange("cuff", True, chair.clock.now()))
            bp(118, 76)  # the connection's burst: held, then live
            await wait_until(lambda: len(readings(Kind.BP)) == 1, what="first BP")
            bp(120, 78)
            await wait_until(lambda: len(readings(Kind.BP)) == 2, what="second BP")
            await cmd("dose_start")
            await cmd("dose_end")
            await wait_until(
                lambda: "raised" in events("session.discharge_ready"), what="discharge ready"
            )
            # The nurse clips the oximeter on: it connects and sends what it keeps.
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
            await wait_until(lambda: ox.connection is not None, what="oximeter connected")
            await wait_until(
                lambda: any(r.values["spo2_pct"] == 88.0 for r in readings(Kind.SPO2)),
                what="the stored spot-check",
            )
            for _ in range(3):  # and then the patient's own SpO2
                await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}), now)
            await wait_until(lambda: len(readings(Kind.SPO2)) >= 4, what="live SpO2")
        finally:
            if link is not None:
                link.cancel()
                await asyncio.gather(link, return_exceptions=True)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    got = [(r.values["spo2_pct"], r.stored) for r in readings(Kind.SPO2)]
    assert got[0] == (88.0, True), got  # history
    assert {s for _, s in got[1:]} == {False}, got  # the patient's own: live
    assert events("session.discharge_ready") == ["raised"]  # not withdrawn by the 88 %
    assert chair.history.stored == 1
