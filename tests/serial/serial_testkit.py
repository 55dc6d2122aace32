"""Test kit for tests/serial: a small real DeviceContext that records what a transport and
protocol report, and a simulated chair played through a whole daemon. (No __init__.py
here: a package named `serial` would shadow pyserial.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair
from tests.kit import RecordingContext


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()


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
