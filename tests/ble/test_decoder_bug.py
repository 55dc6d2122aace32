"""A bug in a BLE driver's decoder (it raises, in the notification callback) must make
that device's link lost, loudly once, and leave the other devices of the hub alone.

The seam: a test-only descriptor, the ble-hrm driver whose decoder raises on every value,
passed to the real transport as tests pass the registry's descriptors; two real bumble
heart-rate straps on one virtual air, each with its own `run_ble_device`, through bleak.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from monitord.drivers.base import DriverDescriptor
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import VirtualBleLink, backends, make_sim_device
from tests.kit import device_config

from .helpers import RecordingContext, wait_until

FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.01)


def _raising(data: bytes, quirks: frozenset[str]) -> Any:
    raise IndexError("decoder bug: RR interval past the value's end")


def _buggy() -> DriverDescriptor:
    real = DRIVERS["ble-hrm"]
    assert real.ble_profile is not None
    subs = tuple(dataclasses.replace(s, decode=_raising) for s in real.ble_profile.subscriptions)
    profile = dataclasses.replace(real.ble_profile, subscriptions=subs)
    return dataclasses.replace(real, name="ble-hrm-buggy", ble_profile=profile)


async def test_a_decoder_raising_loses_its_link_loudly_once_and_spares_the_other_device(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "monitord")
    bad_ctx, good_ctx = RecordingContext(device="bad"), RecordingContext(device="good")
    client, scanner = backends(vlink)
    tasks: list[asyncio.Task[None]] = []
    sent = 0
    async with (
        make_sim_device("ble-hrm", "Strap-bad", vlink) as bad,
        make_sim_device("ble-hrm", "Strap-good", vlink) as good,
    ):
        # (the good strap's silence outlasts the test: its link must never drop)
        for ctx, desc, quiet in ((bad_ctx, _buggy(), 0.5), (good_ctx, DRIVERS["ble-hrm"], 30.0)):
            dev = device_config(
                id=ctx.device, driver="ble-hrm", name=f"Strap-{ctx.device}", silence_s=quiet
            )
            run = run_ble_device(
                dev, desc, ctx, client_backend=client, scanner_backend=scanner,
                timing=FAST, rng=random.Random(1),
            )  # fmt: skip
            tasks.append(asyncio.create_task(run))
        try:
            await wait_until(lambda: bad_ctx.link_up and good_ctx.link_up, what="both up")
            for _ in range(40):
                t = datetime.now(UTC)
                ev = SimEvent(Kind.HR, {"hr_bpm": 64}, contact=True)
                await bad.send(ev, t)
                await good.send(ev, t)
                sent += 1
                await asyncio.sleep(0.05)
            await wait_until(lambda: len(good_ctx.readings) >= sent, what="good readings")
            # The bad one stays down: its next connections are up only with a value.
            await wait_until(lambda: not bad_ctx.link_up, what="bad link lost")
            await asyncio.sleep(0.5)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert len(good_ctx.readings) == sent
    assert good_ctx.links == [(True, good_ctx.links[0][1])], good_ctx.links
    assert bad_ctx.readings == []
    assert [up for up, _ in bad_ctx.links] == [True, False], bad_ctx.links
    assert bad_ctx.links[-1][1].startswith("driver error: "), bad_ctx.links
    assert "decoder bug" in bad_ctx.links[-1][1], bad_ctx.links
    loud = [
        r for r in caplog.records
        if r.levelno >= logging.WARNING and "decoder bug" in (
            r.getMessage() + str(r.exc_info[1] if r.exc_info else ""))
    ]  # fmt: skip
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert loud[0].levelno == logging.ERROR and loud[0].exc_info, loud[0].getMessage()


def _features_bug(data: bytes) -> Any:
    raise ValueError("decoder bug: a supported-features bit this decoder has no name for")


async def test_a_feature_decoder_raising_leaves_the_readings_flowing(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    """The features a device states (read at each connection) are only logged: a bug
    in their decoder made every connection fail (`Transient`, retried for ever), so the
    oximeter gave no reading at all, with a WARNING on the radio and no traceback."""
    caplog.set_level(logging.DEBUG, "monitord")
    real = DRIVERS["ble-plx"]
    assert real.ble_profile is not None
    feats = tuple(dataclasses.replace(f, decode=_features_bug) for f in real.ble_profile.features)
    profile = dataclasses.replace(real.ble_profile, features=feats)
    desc = dataclasses.replace(real, name="ble-plx-buggy", ble_profile=profile)
    ctx = RecordingContext(device="spo2")
    client, scanner = backends(vlink)
    dev = device_config(id="spo2", driver="ble-plx", name="SimOx")
    async with make_sim_device("ble-plx", "SimOx", vlink) as ox:
        task = asyncio.create_task(
            run_ble_device(dev, desc, ctx, client_backend=client, scanner_backend=scanner,
                           timing=FAST, rng=random.Random(1))
        )  # fmt: skip
        try:
            await wait_until(lambda: ctx.link_up, what="link up")
            for _ in range(3):
                await ox.send(
                    SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 72}), datetime.now(UTC)
                )
            await wait_until(lambda: len(ctx.readings) == 3, what="readings")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [up for up, _ in ctx.links] == [True], ctx.links
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and loud[0].levelno == logging.ERROR and loud[0].exc_info, [
        r.getMessage() for r in loud
    ]
    assert "decoder bug" in str(loud[0].exc_info[1])


async def test_a_measurement_lost_to_a_decoder_bug_is_counted_while_its_cuff_pressure_flows(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    """A cuff whose 0x2A35 decoder raises while its cuff pressure (0x2A36) decodes: the
    link stays up (the pressure is the cuff measuring; `tech.bp_overdue` is the alarm for
    no BP), and each measurement lost is counted as a reject, as a reject is counted.
    Before, nothing counted it: the device's rejects read 0 with every BP lost, one ERROR
    line in the journal the only trace."""
    caplog.set_level(logging.DEBUG, "monitord")
    real = DRIVERS["ble-bpm"]
    assert real.ble_profile is not None
    subs = tuple(
        dataclasses.replace(s, decode=_raising) if "2a35" in s.uuid.lower() else s
        for s in real.ble_profile.subscriptions
    )
    assert subs != real.ble_profile.subscriptions
    profile = dataclasses.replace(real.ble_profile, subscriptions=subs)
    desc = dataclasses.replace(real, name="ble-bpm-buggy", ble_profile=profile)
    ctx = RecordingContext(device="cuff")
    client, scanner = backends(vlink)
    dev = device_config(id="cuff", driver="ble-bpm", name="SimCuff")
    async with make_sim_device("ble-bpm", "SimCuff", vlink) as cuff:
        task = asyncio.create_task(
            run_ble_device(dev, desc, ctx, client_backend=client, scanner_backend=scanner,
                           timing=FAST, rng=random.Random(1))
        )  # fmt: skip
        try:
            await wait_until(lambda: ctx.link_up, what="link up")
            ev = SimEvent(Kind.BP, {"sys_mmHg": 120, "dia_mmHg": 80, "pulse_bpm": 70})
            await cuff.send(ev, datetime.now(UTC))
            await wait_until(lambda: len(ctx.rejects) >= 1, what="measurement 1 counted")
            await cuff.send(ev, datetime.now(UTC))
            await wait_until(lambda: len(ctx.rejects) >= 2, what="measurement 2 counted")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert ctx.readings == []
    assert [up for up, _ in ctx.links] == [True], ctx.links
    assert [str(r.reason) for r in ctx.rejects] == ["driver_bug", "driver_bug"], ctx.rejects
    assert "decoder bug" in ctx.rejects[0].detail, ctx.rejects
