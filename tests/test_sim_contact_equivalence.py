"""design.md section 2: a simulated chair "raises exactly the alerts that `monitord replay`
gives for the same scenario", for the scenario fields test_sim_equivalence.py does not play:
`hr` `contact`, `spo2` `probe_off` and `bp` `map` (design.md section 5), and a `stored`
record (docs/scenarios.md), which replay feeds to no rule.

The player turns each measurement into what the simulated device puts on the wire
(simulators/player.py `sim_event`); replay turns it into an engine sample
(scenario.py `to_engine_input`). Each of these went unnoticed: in the player the probe-off
flag inverted (every `probe_off: false` line played as a finger out), `contact` dropped,
the MAP dropped, a stored record played as a live reading; a line after `end` played by
the player or by replay; a chair attaching a scenario that names one other chair playing
nothing of it. The live side here is the whole daemon path: a BLE cuff and strap (bumble
peripherals through bleak) and a Masimo oximeter on a pseudo-terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitord.engine import AlertEngine
from monitord.engine.replay import replay
from monitord.scenario import load_scenario
from tests.test_sim_equivalence import play_simulated_chair


def scenario() -> list[dict[str, Any]]:
    """The strap off the chest for t in [60, 100), the finger out for t in [120, 160):
    each longer than tech.sensor_off's 15 s. Outside them `contact` and `probe_off` are
    stated (true / false), so a player that read them the wrong way round is seen too."""
    # One chair named (replay plays every line on it, design.md section 5); a simulated
    # chair attaching the file plays it whatever that name (simulators/player.py)
    start = {"t": 0, "event": "session_start", "protocol": "esketamine", "chair": "bay-3"}
    ev: list[dict[str, Any]] = [start]
    for t, s, d, m in [(10, 128, 80, 96), (130, 131, 82, 98)]:
        ev.append({"t": t, "event": "bp", "sys": s, "dia": d, "map": m, "pulse": 75})
    # A record from the cuff's memory is history, fed to no rule: replay raises nothing
    # for it, so a simulated chair must not play it as a live crisis reading.
    ev.append({"t": 20, "event": "bp", "sys": 200, "dia": 125, "stored": True})
    for t in range(5, 240, 5):
        ev.append({"t": t, "event": "hr", "hr": 72, "contact": not 60 <= t < 100})
        ev.append({"t": t, "event": "spo2", "spo2": 97, "pulse": 72, "probe_off": 120 <= t < 160})
    ev.append({"t": 240, "event": "end"})
    ev.sort(key=lambda e: e["t"])
    # design.md section 5: at `end` "timers fire up to this time, then replay stops": a
    # line after it is validated, never played (a chair playing on raised bp.crisis)
    ev.append({"t": 250, "event": "bp", "sys": 250, "dia": 130})
    return ev


def _contact(e: dict[str, Any]) -> bool:
    return bool(e["contact"]) if e["event"] == "hr" else not e["probe_off"]


async def test_contact_probe_off_and_map_play_as_replay_reads_them(tmp_path: Path) -> None:
    events = scenario()
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    expected = list(replay(AlertEngine(), load_scenario(path)))
    assert all(e.t <= 240 for e in expected), expected[-1]  # nothing after `end`
    # the scenario is worth comparing: both signals' sensor-off alerts raise and clear
    assert [(e.t, e.rule, e.event) for e in expected if e.rule == "tech.sensor_off"] == [
        (75.0, "tech.sensor_off", "raised"),
        (100.0, "tech.sensor_off", "cleared"),
        (135.0, "tech.sensor_off", "raised"),
        (160.0, "tech.sensor_off", "cleared"),
    ]
    devices = "".join(
        f'[[chairs.devices]]\nid = "{i}"\ndriver = "{d}"\nsimulate = "{path}"\n'
        "simulate_speed = 1200\n"
        for i, d in (("cuff", "ble-bpm"), ("strap", "ble-hrm"), ("ox", "masimo-ascii"))
    )
    got, readings, start = await play_simulated_chair(tmp_path, devices)
    # each hr/spo2 line arrived with its contact as replay reads it (probe_off true is
    # contact false), each bp with its MAP
    want = sorted(
        (float(e["t"]), e["event"], _contact(e)) for e in events if e["event"] in ("hr", "spo2")
    )
    have = sorted(
        (round(r.t - start, 3), str(r.kind), r.contact)
        for r, _ in readings
        if str(r.kind) in ("hr", "spo2")
    )
    assert have == want, (sorted(set(want) - set(have))[:5], sorted(set(have) - set(want))[:5])
    maps = sorted(
        (round(r.t - start, 3), r.values.get("map_mmHg"))
        for r, _ in readings
        if str(r.kind) == "bp"
    )
    assert maps == [(10.0, 96.0), (130.0, 98.0)]
    key = ("rule", "event", "priority", "kind", "phase", "level")
    assert [(round(e.t - start, 3), *(getattr(e, k) for k in key)) for e in got] == [
        (e.t, *(getattr(e, k) for k in key)) for e in expected
    ]
