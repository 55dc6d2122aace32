"""Test kit for tests/serial: a small real DeviceContext that records what a transport and
protocol report, and a simulated chair played through a whole daemon. (No __init__.py
here: a package named `serial` would shadow pyserial.)"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair
from tests.kit import RecordingContext, device_config


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()


@contextlib.asynccontextmanager
async def simulate_read(
    tmp_path: Path,
    ctx: RecordingContext,
    scenario: str,
    driver: str,
    speed: float,
    **options: Any,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, datetime]]:
    """`monitord simulate --driver DRIVER --speed SPEED` playing `scenario` on a pty, read
    by the real serial transport and the driver into `ctx` (a device with `options`) for
    as long as the block runs; yields the process and the time its port was printed (the
    simulator takes its start time just after printing it)."""
    scen = tmp_path / "s.jsonl"
    scen.write_text(scenario)
    link = tmp_path / "sim-link"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitord", "simulate", "--driver", driver,
        "--link", str(link), "--speed", str(speed), str(scen),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    printed = datetime.now(UTC)
    assert first == str(link)
    dev = device_config(id="dev", driver=driver, port=first, **options)
    task = asyncio.create_task(
        run_serial_device(dev, DRIVERS[driver], ctx, backoff=PortBackoff(0.05, 0.3))
    )
    try:
        yield proc, printed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def play_simulated_oximeter(
    tmp_path: Path, driver: str, scenario: str
) -> list[tuple[float | None, bool]]:
    """Play `scenario` (JSON lines) on one simulated `driver` device of one chair (the
    simulator on a pty and the real transport, as for every model in the registry; the
    pty carries no parity: the simulated device runs 8N1), at 20x, through a daemon with
    MQTT and InfluxDB off; the stored SpO2 readings (value, valid) in order."""
    path = tmp_path / "scenario.jsonl"
    path.write_text(scenario)
    cfg = loads_config(
        '[site]\nid = "sim-test"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "{driver}"\nsimulate = "{path}"\n'
        "simulate_speed = 20\n"
    )
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 120)
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        return [(r.values["spo2_pct"], r.valid) for r, _ in ob.readings("chair-1")]
    finally:
        ob.close()
