"""End to end over the bumble virtual link, through bleak and drivers/ble_link.py.

Simulated peripherals (simulators/ble) advertise on an in-process LocalLink; the daemon's
`run_ble_device` finds them with BleakScanner and talks GATT with BleakClient, using the
bumble-backed bleak backend: the same code path as on BlueZ, minus the radio.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitord.config import DeviceConfig
from monitord.drivers.base import DeviceContext, RejectReason
from monitord.drivers.ble_errors import Transient
from monitord.drivers.ble_gatt import BleLinkSettings
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import (
    SimCuff,
    SimOximeter,
    VirtualBleLink,
    backends,
    make_sim_device,
)
from monitord.simulators.bleak_bumble import HostAdapter

from .helpers import RecordingContext, wait_until

FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.01)


def bp(sys_: float, dia: float, map_: float, pulse: float, error: bool = False) -> SimEvent:
    return SimEvent(
        Kind.BP,
        {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": map_, "pulse_bpm": pulse},
        error=error,
    )


def start_link(
    vlink: VirtualBleLink,
    ctx: DeviceContext,
    dev: DeviceConfig,
    *,
    adapter: HostAdapter | None = None,
    timing: LinkTiming = FAST,
    seed: int = 1,
) -> asyncio.Task[None]:
    """The real link of `dev` over `vlink` (through the hub's `adapter`), as a task."""
    client, scanner = backends(vlink, adapter)
    return asyncio.create_task(
        run_ble_device(
            dev,
            DRIVERS[dev.driver],
            ctx,
            client_backend=client,
            scanner_backend=scanner,
            timing=timing,
            rng=random.Random(seed),
        )
    )


@asynccontextmanager
async def running(
    vlink: VirtualBleLink, ctx: RecordingContext, timing: LinkTiming = FAST, **dev_kw: Any
) -> AsyncIterator[asyncio.Task[None]]:
    task = start_link(vlink, ctx, DeviceConfig(**dev_kw), timing=timing)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_cuff_measurement_arrives_as_reading(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext(device="bp")
    async with make_sim_device("ble-bpm", "SimCuff", vlink) as cuff:
        async with running(vlink, ctx, id="bp", driver="ble-bpm", name="SimCuff"):
            await wait_until(lambda: ctx.link_up, what="link up")
            t = datetime.now(UTC).replace(microsecond=0)
            await cuff.send(bp(132, 84, 100, 71), t)
            await wait_until(lambda: len(ctx.readings) == 1, what="reading")
            await asyncio.sleep(0.1)  # nothing else (cuff pressure) may become a reading
    assert len(ctx.readings) == 1
    r = ctx.readings[0]
    assert r.kind is Kind.BP
    assert dict(r.values) == {"sys_mmHg": 132, "dia_mmHg": 84, "map_mmHg": 100, "pulse_bpm": 71}
    assert r.valid and r.flags == ()
    assert r.device_time == t and r.measured_at == t  # device clock within 5 min: trusted
    assert (r.chair, r.device) == ("chair-1", "bp")
    assert ctx.rejects == []


async def test_cuff_error_reading_is_invalid(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext()
    async with make_sim_device("ble-bpm", "Cuff2", vlink) as cuff:
        assert isinstance(cuff, SimCuff)
        async with running(vlink, ctx, id="bp", driver="ble-bpm", address=cuff.address_str):
            await wait_until(lambda: ctx.link_up, what="link up")
            await cuff.send(bp(0, 0, 0, 0, error=True), datetime.now(UTC))
            await wait_until(lambda: len(ctx.readings) == 1, what="reading")
    r = ctx.readings[0]
    assert not r.valid and "cuff_error" in r.flags
    assert all(v is None for v in r.values.values())


async def test_link_loss_reconnect_no_loss_no_duplicate(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext()
    async with make_sim_device("ble-bpm", "SimCuff", vlink) as cuff:
        assert isinstance(cuff, SimCuff)
        async with running(vlink, ctx, id="bp", driver="ble-bpm", name="SimCuff"):
            await wait_until(lambda: ctx.link_up, what="link up")
            t1 = datetime.now(UTC).replace(microsecond=0)
            await cuff.send(bp(120, 80, 93, 70), t1)
            await wait_until(lambda: len(ctx.readings) == 1, what="first reading")

            await cuff.drop_link()
            await wait_until(lambda: not ctx.link_up, what="link down")
            assert "disconnected" in ctx.links[-1][1]
            # taken while the link is down: the cuff stores it
            t2 = t1.replace(second=(t1.second + 1) % 60)
            await cuff.send(bp(150, 95, 113, 88), t2)
            await asyncio.sleep(0.2)
            assert len(ctx.readings) == 1

            await cuff.restore_link()
            await wait_until(lambda: ctx.link_up, what="link up again")
            # the cuff pushes its whole memory (t1 again, then t2): wait until it is done
            await wait_until(lambda: cuff.indications_confirmed >= 3, what="memory push")
            await wait_until(lambda: len(ctx.readings) >= 3, what="pushed readings")
            await asyncio.sleep(0.1)
    # Every BP record the cuff pushes is forwarded, in order: the hub drops the repeat of
    # t1 (same device time and values), counted and across restarts (monitord/history.py).
    assert [r.values["sys_mmHg"] for r in ctx.readings] == [120, 120, 150]
    assert [r.device_time for r in ctx.readings] == [t1, t1, t2]
    ups_downs = [up for up, _ in ctx.links]
    assert ups_downs == [True, False, True]


async def test_stored_readings_pushed_on_connect_come_in_memory_order(
    vlink: VirtualBleLink,
) -> None:
    """A cuff that measured before anyone connected pushes its memory on connection, and
    again on the next connection, oldest first; the transport forwards every push (the
    hub drops the repeats: tests/test_stored_records.py)."""
    ctx = RecordingContext()
    async with make_sim_device("ble-bpm", "SimCuff", vlink) as cuff:
        assert isinstance(cuff, SimCuff)
        base = datetime.now(UTC).replace(microsecond=0)
        await cuff.drop_link()
        for i in range(3):
            await cuff.send(bp(110 + i, 70 + i, 83 + i, 60 + i), base.replace(second=i))
        await cuff.restore_link()
        async with running(vlink, ctx, id="bp", driver="ble-bpm", name="SimCuff"):
            await wait_until(lambda: len(ctx.readings) == 3, what="three stored readings")
            await cuff.drop_link()
            await wait_until(lambda: not ctx.link_up, what="link down")
            await cuff.restore_link()
            await wait_until(lambda: cuff.indications_confirmed >= 6, what="second push")
            await wait_until(lambda: len(ctx.readings) >= 6, what="second push forwarded")
            await asyncio.sleep(0.1)
    assert [r.values["sys_mmHg"] for r in ctx.readings] == [110, 111, 112] * 2
    assert [up for up, _ in ctx.links] == [True, False, True]


async def test_strap_contact_rr_and_silence(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext(device="hr")
    async with make_sim_device("ble-hrm", "SimStrap", vlink) as strap:
        async with running(
            vlink, ctx, id="hr", driver="ble-hrm", silence_s=0.5, simulate=Path("s.jsonl")
        ):
            await wait_until(lambda: ctx.link_up, what="link up (found by service UUID)")
            now = datetime.now(UTC)
            await strap.send(SimEvent(Kind.HR, {"hr_bpm": 64}, contact=True), now)
            await strap.send(SimEvent(Kind.HR, {"hr_bpm": 66}, contact=False), now)
            await wait_until(lambda: len(ctx.readings) == 2, what="hr readings")
            # then nothing: the link goes silent, is reported down and reconnected
            await wait_until(lambda: not ctx.link_up, what="silence detected")
            assert ctx.links[-1][1].startswith("silent")
            await wait_until(lambda: ctx.link_up, what="reconnected after silence")
    first, second = ctx.readings
    assert first.values == {"hr_bpm": 64.0} and first.contact is True and first.valid
    assert second.contact is False and not second.valid and "no_contact" in second.flags


async def test_oximeter_probe_off(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext(device="spo2")
    async with make_sim_device("ble-plx", "SimOx", vlink) as ox:
        async with running(vlink, ctx, id="spo2", driver="ble-plx", name="SimOx"):
            await wait_until(lambda: ctx.link_up, what="link up")
            now = datetime.now(UTC)
            await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}), now)
            await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97}, contact=False), now)
            await wait_until(lambda: len(ctx.readings) == 2, what="spo2 readings")
    on, off = ctx.readings
    assert on.values == {"spo2_pct": 97.0, "pulse_bpm": 72.0} and on.valid
    assert on.contact is True
    assert off.contact is False and not off.valid and "probe_off" in off.flags


async def test_device_never_found_reports_link_down(vlink: VirtualBleLink) -> None:
    ctx = RecordingContext()
    async with running(vlink, ctx, id="bp", driver="ble-bpm", name="NoSuchCuff"):
        await wait_until(lambda: bool(ctx.links), what="link report")
    assert ctx.links[0][0] is False and "NoSuchCuff" in ctx.links[0][1]


async def test_episodic_cuff_connects_after_measurement(vlink: VirtualBleLink) -> None:
    """A cuff that wakes up only after a measurement, pushes its whole memory and hangs
    up: every push is forwarded after a link-up marking its connection (the hub keeps the
    newest of each burst live and drops the repeats), and its hang-ups are not link
    losses."""
    ctx = RecordingContext()
    async with SimCuff("HomeCuff", vlink, episodic=True) as cuff:
        async with running(
            vlink, ctx, id="bp", driver="ble-bpm", name="HomeCuff", quirks=["episodic"]
        ):
            base = datetime.now(UTC).replace(microsecond=0)
            for i in range(3):
                await cuff.send(bp(120 + i, 80, 93, 70), base.replace(second=i))
                n = (i + 1) * (i + 2) // 2  # the whole memory, each time

                def all_read(n: int = n) -> bool:
                    return len(ctx.readings) == n

                await wait_until(all_read, what=f"reading {i}")
                await wait_until(lambda: cuff.connection is None, what="cuff hangs up")
            assert cuff.indications_confirmed == 1 + 2 + 3  # memory pushed each time
    assert [r.values["sys_mmHg"] for r in ctx.readings] == [120, 120, 121, 120, 121, 122]
    assert [up for up, _ in ctx.links] == [True] * 3, ctx.links  # one up per connection


async def test_attach_simulated_from_config(vlink: VirtualBleLink) -> None:
    """`simulate = "..."` devices: two chairs' straps on one link, each daemon device
    finds its own simulator by the name attach_simulated gives it."""
    from monitord.simulators.ble import attach_simulated

    dev = DeviceConfig(id="hr", driver="ble-hrm", simulate=Path("scenario.jsonl"))
    sim1, run1 = attach_simulated(dev, "chair-1", vlink)
    sim2, run2 = attach_simulated(dev, "chair-2", vlink)
    names = (run1.settings_as(BleLinkSettings).name, run2.settings_as(BleLinkSettings).name)
    assert names == ("chair-1-hr", "chair-2-hr")
    ctx1, ctx2 = RecordingContext(chair="chair-1"), RecordingContext(chair="chair-2")
    async with sim1, sim2:
        async with (
            running(vlink, ctx1, **run1.model_dump()),
            running(vlink, ctx2, **run2.model_dump()),
        ):
            await wait_until(lambda: ctx1.link_up and ctx2.link_up, what="both links up")
            now = datetime.now(UTC)
            await sim1.send(SimEvent(Kind.HR, {"hr_bpm": 61}, contact=True), now)
            await sim2.send(SimEvent(Kind.HR, {"hr_bpm": 92}, contact=True), now)
            await wait_until(lambda: ctx1.readings and ctx2.readings, what="readings")
    assert [r.values["hr_bpm"] for r in ctx1.readings] == [61.0]
    assert [r.values["hr_bpm"] for r in ctx2.readings] == [92.0]


async def test_peripheral_that_connects_but_never_notifies_stays_lost(
    vlink: VirtualBleLink,
) -> None:
    """A strap that accepts the connection and the subscription but never notifies (not
    bonded, a stuck sensor): each connection used to report the link up and its silence
    down, so the link flapped every `silence_s` and `tech.device_lost` (30 s of link down)
    never came. After a connection that gave no value, the next one is up only with its
    first value."""
    ctx = RecordingContext(device="hr")
    async with make_sim_device("ble-hrm", "SimStrap", vlink) as strap:
        async with running(
            vlink, ctx, id="hr", driver="ble-hrm", silence_s=0.3, simulate=Path("s.jsonl")
        ):
            await wait_until(lambda: len(ctx.links) >= 2, what="up, then silent")
            await asyncio.sleep(2.0)  # several reconnections, each silent
            assert [up for up, _ in ctx.links] == [True, False], ctx.links
            for _ in range(50):  # the strap talks at last
                await strap.send(SimEvent(Kind.HR, {"hr_bpm": 70}, contact=True), datetime.now(UTC))
                if ctx.readings:
                    break
                await asyncio.sleep(0.1)
            await wait_until(lambda: ctx.readings, what="a reading")
            assert [up for up, _ in ctx.links][:3] == [True, False, True], ctx.links


class _NotingRandom(random.Random):
    """A seeded RNG that notes the upper bound of each backoff delay drawn from it (the
    capped step, base * 2^attempt): what the link loop asked for, not how fast it ran."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.steps: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.steps.append(b)
        return super().uniform(a, b)


async def test_connections_that_give_nothing_back_off(vlink: VirtualBleLink) -> None:
    """A strap that takes every connection but never notifies was reconnected at the
    shortest delay after each silent connection, forever (about every `silence_s`). Now
    such connections back off like failures; a connection that gave a value resets."""
    ctx = RecordingContext(device="hr")
    rng = _NotingRandom(1)
    base = Transient.backoff_base_s * FAST.backoff_scale
    dev = DeviceConfig(id="hr", driver="ble-hrm", silence_s=0.2, simulate=Path("s.jsonl"))
    client, scanner = backends(vlink)
    async with make_sim_device("ble-hrm", "SimStrap", vlink) as strap:
        task = asyncio.create_task(
            run_ble_device(
                dev,
                DRIVERS[dev.driver],
                ctx,
                client_backend=client,
                scanner_backend=scanner,
                timing=FAST,
                rng=rng,
            )
        )
        try:
            await wait_until(lambda: len(rng.steps) >= 4, what="four silent connections")
            silent = rng.steps[:4]
            for _ in range(50):  # the strap talks at last, then falls silent again
                await strap.send(SimEvent(Kind.HR, {"hr_bpm": 70}, contact=True), datetime.now(UTC))
                if ctx.readings:
                    break
                await asyncio.sleep(0.1)
            await wait_until(lambda: ctx.readings, what="a reading")
            marked = len(rng.steps)
            await wait_until(lambda: len(rng.steps) > marked, what="silent after the reading")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert silent == [base, base * 2, base * 4, base * 8], rng.steps  # was base, base, ...
    assert rng.steps[marked] == base, rng.steps  # a connection that gave a value resets


class _OximeterWithAByteTooMany(SimOximeter):
    """A PLX oximeter whose every 0x2A5F value carries one byte its flags do not declare
    (a vendor field, say): the decoder rejects each one (the length must match the flags,
    drivers/ble_plx.py), so no reading ever comes although the device notifies on."""

    @classmethod
    def encode(cls, ev: SimEvent) -> bytes:
        return super().encode(ev) + b"\x00"


async def test_values_that_never_decode_are_a_lost_link(vlink: VirtualBleLink) -> None:
    """Up means the device speaks its protocol, as on a serial link (`no data decoded`):
    a rejected value is not a sign of life. Before, each rejected notification counted as
    one and kept the silence timer from firing: the link stayed up for as long as the
    oximeter notified, with no reading, so `tech.device_lost` never came and the patient's
    SpO2 went unwatched with no alarm at all."""
    ctx = RecordingContext(device="spo2")
    stop = asyncio.Event()

    async with _OximeterWithAByteTooMany("OddOx", vlink) as ox:

        async def notify_on() -> None:  # the oximeter notifies every 0.05 s, as it measures
            while not stop.is_set():
                await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}), _now())
                await asyncio.sleep(0.05)

        talker = asyncio.create_task(notify_on())
        try:
            async with running(
                vlink, ctx, id="spo2", driver="ble-plx", name="OddOx", silence_s=0.3
            ):
                await wait_until(lambda: ctx.rejects, what="rejected values")
                await wait_until(lambda: not ctx.link_up, what="link down: nothing decoded")
        finally:
            stop.set()
            await talker
    assert ctx.readings == []
    up, reason = ctx.links[-1]
    assert not up and "none decoded" in reason and "rejected" in reason, ctx.links
    assert {r.reason for r in ctx.rejects} == {RejectReason.BAD_LENGTH}


def _now() -> datetime:
    return datetime.now(UTC)
