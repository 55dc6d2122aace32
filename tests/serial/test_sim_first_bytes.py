"""A simulated chair's first readings are not lost to the port's open (simulators/chair.py,
simulators/player.py).

pyserial flushes a port's input when it opens it, as a real port drops what a device sent
before anyone listened. The scenario player started at once, so what a listen-only
simulator wrote before the daemon's transport had opened its pty was flushed: a
scenario's first reading went missing (seen once in CI: the Contec scenario test got 96,
95 of 97, 96, 95). The player now waits until every serial port is open, as it waits for
BLE links; a reading at t = 0 is written right after the player starts, before the
transport's task has run, so without the wait it is lost every time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair


@pytest.mark.parametrize("driver", ["contec-cms50", "masimo-ascii"])
async def test_a_reading_at_t0_reaches_the_store(tmp_path: Path, driver: str) -> None:
    path = tmp_path / "scenario.jsonl"
    path.write_text(
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}\n'
        '{"t": 0, "event": "spo2", "spo2": 97, "pulse": 70}\n'
        '{"t": 5, "event": "spo2", "spo2": 96, "pulse": 70}\n'
        '{"t": 10, "event": "end"}\n'
    )
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
        got = [r.values["spo2_pct"] for r, _ in ob.readings("chair-1")]
    finally:
        ob.close()
    assert got[:1] == [97], got
    assert 96 in got, got
