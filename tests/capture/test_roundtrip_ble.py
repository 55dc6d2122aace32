"""Acceptance 4 (issue 13), BLE: capture a simulated cuff, decode the file, get the readings
the daemon produced live; and a BLE capture played back by `BleCapturePlayer` reaches
the real BLE link as the same readings.

The virtual BLE link is in-process, so the daemon (`monitord.daemon.Daemon`, its
`ble_backends` injection point) and the capture command (`monitord.commands.capture.
capture`, its `client_backend`/`scanner_backend` arguments) run in this process, each on
its own virtual link with an identical cuff that gets the same measurements at the same
moments. `decode --file` runs as the real CLI subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from monitord.capturefile import read_capture
from monitord.commands.capture import capture
from monitord.config import load_config
from monitord.daemon import Daemon
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimCuff, VirtualBleLink, backends
from monitord.simulators.capture_play import BleCapturePlayer
from tests.kit import RecordingContext, device_config, eventually

from .capture_kit import CHAIR, as_record, comparable, config, decode_file, stored_readings

NAME = "SimCuff"
MEASUREMENTS = [  # (sys, dia, map, pulse, cuff error)
    (132.0, 84.0, 100.0, 71.0, False),
    (0.0, 0.0, 0.0, 0.0, True),
    (151.5, 95.0, 113.0, 88.0, False),
]


def bp(sys_: float, dia: float, map_: float, pulse: float, error: bool) -> SimEvent:
    values: dict[str, float | None] = {
        "sys_mmHg": sys_,
        "dia_mmHg": dia,
        "map_mmHg": map_,
        "pulse_bpm": pulse,
    }
    return SimEvent(Kind.BP, values, error=error)


def ours(records: list[dict[str, Any]], t0: datetime) -> list[dict[str, Any]]:
    """The readings of this test's measurements (a cuff may also push older records)."""
    stamps = {(t0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z") for i in range(3)}
    return [r for r in records if r["device_time"] in stamps]


async def test_ble_capture_then_decode_gives_what_the_daemon_stored(tmp_path: Path) -> None:
    dev_body = f'  id = "bp"\n  driver = "ble-bpm"\n  name = "{NAME}"\n'
    live_cfg = config(tmp_path, "live", dev_body)
    cap_cfg = config(tmp_path, "cap", dev_body)
    out = tmp_path / "cuff.capture.jsonl"
    air_live, air_cap = VirtualBleLink(), VirtualBleLink()
    cuff_live, cuff_cap = SimCuff(NAME, air_live), SimCuff(NAME, air_cap)
    printed = io.StringIO()
    stop = asyncio.Event()
    async with cuff_live, cuff_cap:
        daemon = Daemon(load_config(live_cfg), ble_backends=backends(air_live))
        d_task = asyncio.create_task(daemon.run())
        client, scanner = backends(air_cap)
        args = argparse.Namespace(
            config=str(cap_cfg), device=f"{CHAIR}/bp", out=str(out), seconds=None
        )
        c_task = asyncio.create_task(
            capture(args, client_backend=client, scanner_backend=scanner, stop=stop, out=printed)
        )
        try:
            for cuff in (cuff_live, cuff_cap):
                await eventually(partial(cuff.is_subscribed, cuff.bpm), 30, "central subscribed")
            t0 = datetime.now(UTC).replace(microsecond=0)
            for i, m in enumerate(MEASUREMENTS):
                await asyncio.gather(
                    cuff_live.send(bp(*m), t0 + timedelta(seconds=i)),
                    cuff_cap.send(bp(*m), t0 + timedelta(seconds=i)),
                )
            db = tmp_path / "live.sqlite"
            await eventually(
                lambda: len(ours([as_record(r) for r in stored_readings(db)], t0)) == 3,
                30,
                "daemon stored the 3 measurements",
            )
            await eventually(lambda: len(printed.getvalue().splitlines()) >= 3, 30, "captured")
        finally:
            stop.set()
            rc_cap = await asyncio.wait_for(c_task, 30)
            daemon.stop_event.set()
            await asyncio.wait_for(d_task, 30)
    assert rc_cap == 0

    live = ours([as_record(r) for r in stored_readings(tmp_path / "live.sqlite")], t0)
    rc, decoded, err = decode_file(out)
    assert rc == 0, err
    assert ours([comparable(d) for d in decoded], t0) == live
    assert [d["sys_mmHg"] for d in live] == [132, None, 151.5]
    assert [d["valid"] for d in live] == [True, False, True]
    assert [json.loads(line) for line in printed.getvalue().splitlines()] == decoded
    cap = read_capture(out)
    assert cap.header["advertised_name"] == NAME
    profile = DRIVERS["ble-bpm"].ble_profile
    assert profile is not None
    assert {r.char for r in cap.records if r.kind == "rx"} >= {profile.subscriptions[0].uuid}


async def test_ble_capture_plays_back_to_the_link(tmp_path: Path) -> None:
    """Record a cuff (live indications, intermediate cuff pressure, a reconnect with its
    memory pushed again), play the file back at 4x to the real BLE link: the link gets
    what `decode --file` says, no more, no less."""
    cfg = config(tmp_path, "cap", f'  id = "bp"\n  driver = "ble-bpm"\n  name = "{NAME}"\n')
    out = tmp_path / "cuff.capture.jsonl"
    air = VirtualBleLink()
    stop = asyncio.Event()
    client, scanner = backends(air)
    args = argparse.Namespace(config=str(cfg), device=f"{CHAIR}/bp", out=str(out), seconds=None)
    async with SimCuff(NAME, air) as cuff:
        assert isinstance(cuff, SimCuff)
        task = asyncio.create_task(
            capture(args, client_backend=client, scanner_backend=scanner, stop=stop,
                    out=io.StringIO())
        )  # fmt: skip
        await eventually(lambda: cuff.is_subscribed(cuff.bpm), 30, "subscribed")
        t0 = datetime.now(UTC).replace(microsecond=0)
        await cuff.send(bp(*MEASUREMENTS[0]), t0)
        await cuff.drop_link()  # the cuff leaves and comes back: it pushes its memory again
        await cuff.send(bp(*MEASUREMENTS[2]), t0 + timedelta(seconds=2))
        await cuff.restore_link()
        await eventually(lambda: cuff.indications_confirmed >= 3, 30, "memory pushed")
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0

    rc, decoded, err = decode_file(out)
    assert rc == 0, err
    # The transport forwards the re-pushed 132 too: the hub drops repeats (monitord/history.py)
    assert [d["sys_mmHg"] for d in ours(decoded, t0)] == [132, 132, 151.5]
    cap = read_capture(out)
    assert [r.kind for r in cap.records if r.kind != "rx"][:2] == ["connected", "disconnected"]

    air2 = VirtualBleLink()
    ctx = RecordingContext(device="bp")
    client2, scanner2 = backends(air2)
    dev = device_config(id="bp", driver="ble-bpm", name=NAME)
    async with BleCapturePlayer(read_capture(out), air2, speed=4.0) as player:
        link = asyncio.create_task(
            run_ble_device(
                dev, DRIVERS["ble-bpm"], ctx, client_backend=client2, scanner_backend=scanner2,
                timing=LinkTiming(scan_timeout_s=2.0, connect_timeout_s=5.0, backoff_scale=0.01),
                rng=random.Random(1),
            )
        )  # fmt: skip
        try:
            await asyncio.wait_for(player.finished.wait(), 60)
            await ctx.until(lambda: len(ctx.readings) >= len(decoded), "played readings")
        finally:
            link.cancel()
            await asyncio.gather(link, return_exceptions=True)
    got = [(dict(r.values), r.device_time, r.valid, r.flags) for r in ctx.readings]
    want = [
        (
            {k: d[k] for k in ("sys_mmHg", "dia_mmHg", "map_mmHg", "pulse_bpm")},
            datetime.fromisoformat(d["device_time"].replace("Z", "+00:00")),
            d["valid"],
            tuple(d["status"]),
        )
        for d in decoded
    ]
    assert got == want
