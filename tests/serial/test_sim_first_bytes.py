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

from pathlib import Path

import pytest
from serial_testkit import play_simulated_oximeter


@pytest.mark.parametrize("driver", ["contec-cms50", "masimo-ascii"])
async def test_a_reading_at_t0_reaches_the_store(tmp_path: Path, driver: str) -> None:
    got = await play_simulated_oximeter(
        tmp_path,
        driver,
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}\n'
        '{"t": 0, "event": "spo2", "spo2": 97, "pulse": 70}\n'
        '{"t": 5, "event": "spo2", "spo2": 96, "pulse": 70}\n'
        '{"t": 10, "event": "end"}\n',
    )
    values = [v for v, _ in got]
    assert values[:1] == [97], got
    assert 96 in values, got
