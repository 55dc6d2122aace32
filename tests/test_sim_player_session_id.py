"""A simulated chair opens its session under the scenario's `session_id`, as `replay`
does (docs/scenarios.md: `session_start` has an optional `session_id`). The player dropped
it, and the session was stored as `chair-1-<epoch>`, so `monitord report --session` with
the scenario's id found nothing (found by an audit of the report)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair


async def test_the_scenarios_session_id_names_the_stored_session(tmp_path: Path) -> None:
    events = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-a"},
        {"t": 1, "event": "spo2", "spo2": 97},
        {"t": 2, "event": "session_end"},
        {"t": 3, "event": "end"},
    ]
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    cfg = loads_config(
        '[site]\nid = "sid"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        '[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nsimulate = "{path}"\n'
        "simulate_speed = 10.0\n"
    )
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 60)
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        sessions = ob.session_events("chair-1")
    finally:
        ob.close()
    assert [(s.action, s.session_id) for s in sessions] == [("start", "s-a"), ("end", "s-a")]
