"""A simulated chair with a polled monitor plays its scenario at the scenario's pace.

The scenario player holds the chair's clock at each step until the daemon has the step's
readings. An IntelliVue speaks only when polled (every second by default), and the player
waited a poll per event: with HR and SpO2 every second the scenario needed two polls a
second and ran at half speed in real time (a 21-s scenario took 42 s). A `t`'s measurements
for one polled device are now set together and answered by one poll, in the order the
poll's answer gives them, which is the scenario's order, so the chair still sees what
replay sees (tests/test_sim_equivalence.py, `intellivue`).

Counted, not timed: without the grouping every `t` costs at least two polls (the second
value is set only once the first has arrived), so fewer polls than two per `t` shows it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from monitord.simulators import serial_sims
from monitord.simulators.chair import start_simulated_chair
from monitord.simulators.intellivue import IntelliVueSim

SECONDS = 8


async def test_hr_and_spo2_of_one_second_take_one_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[dict[str, Any]] = [{"t": 0, "event": "session_start"}]
    for t in range(1, SECONDS + 1):
        events.append({"t": t, "event": "hr", "hr": 70 + t})
        events.append({"t": t, "event": "spo2", "spo2": 97, "pulse": 70 + t})
    events.append({"t": SECONDS + 1, "event": "end"})
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")

    # The real simulated monitor, kept where the test can read its poll count.
    made: list[IntelliVueSim] = []
    real = serial_sims.make_sim_device

    @asynccontextmanager
    async def keep(driver: str, **kw: Any) -> AsyncIterator[Any]:
        async with real(driver, **kw) as sim:
            assert isinstance(sim, IntelliVueSim)
            made.append(sim)
            yield sim

    monkeypatch.setattr(serial_sims, "make_sim_device", keep)
    cfg = loads_config(
        '[site]\nid = "sim-poll"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        '[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "monitor"\ndriver = "intellivue"\nsimulate = "{path}"\n'
    )  # real time, the default 1-s poll
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 120)

    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        readings = ob.readings("chair-1")
    finally:
        ob.close()
    assert len(readings) == 2 * SECONDS  # every value arrived, once
    (sim,) = made
    # From association to the end: about one poll a second of scenario, where a poll per
    # event needs at least two (plus the polls before the first event).
    assert sim.polls < 2 * SECONDS, sim.polls
