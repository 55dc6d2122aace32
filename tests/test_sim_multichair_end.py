"""design.md sections 2 and 5: a simulated chair raises exactly the alerts that `monitord
replay` gives for the same scenario, also when the scenario names several chairs.

Every line of such a scenario names its chair, the `end` line too, but `end` is the
scenario's: replay fires every chair's timers up to it, then stops. The player of a chair
the `end` line does not name stopped its clock at that chair's last event instead, so a
timer due between that event and `end` (here chair-2's tech.bp_overdue, 780 s after its
dose_start) never fired live while replay raised it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from monitord.clock import SimClock
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine import AlertEngine
from monitord.engine.replay import replay
from monitord.models import AlertEvent
from monitord.outbox import Outbox
from monitord.scenario import load_scenario
from monitord.simulators.chair import start_simulated_chair

CHAIRS = ("chair-1", "chair-2")
SCENARIO = [
    {"t": 0, "chair": "chair-1", "event": "session_start", "protocol": "esketamine"},
    {"t": 0, "chair": "chair-2", "event": "session_start", "protocol": "iv-ketamine"},
    {"t": 10, "chair": "chair-2", "event": "dose_start"},
    {"t": 1000, "chair": "chair-1", "event": "end"},
]


def key(e: AlertEvent, start: float) -> tuple[object, ...]:
    return (round(e.t - start, 3), e.chair, e.rule, e.event, e.priority, e.phase, e.level)


async def test_end_named_on_one_chair_ends_the_scenario_on_every_chair(tmp_path: Path) -> None:
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in SCENARIO) + "\n")
    expected = list(replay(AlertEngine(), load_scenario(path)))
    # chair-2: no baseline at dose_start, no BP for 780 s after it
    assert [(e.chair, e.rule, e.t) for e in expected] == [
        ("chair-2", "session.no_baseline", 10.0),
        ("chair-2", "tech.bp_overdue", 790.0),
    ]
    chairs = "".join(
        f'[[chairs]]\nid = "{c}"\n[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\n'
        f'simulate = "{path}"\nsimulate_speed = 1000\n'
        for c in CHAIRS
    )
    cfg = loads_config(
        '[site]\nid = "sim-multi"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n{chairs}'
    )
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 60)
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        got = [ev for c in CHAIRS for ev in ob.alert_events(c)]
    finally:
        ob.close()
    clock = daemon.chairs["chair-2"].clock
    assert isinstance(clock, SimClock)
    assert [key(e, clock.start) for e in got] == [key(e, 0.0) for e in expected]
