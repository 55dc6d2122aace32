"""Issue 13, acceptance 3: a cuff that pushes its memory on connect raises no alert from it.

The whole daemon path on a simulated chair: an `episodic` BLE cuff (a bumble GATT
peripheral on the virtual link, reached through bleak and drivers/ble_link.py) holds 5
old records (one of them 190/115) in its memory; like a Beurer it wakes up after a
measurement, connects, pushes its whole memory as indications (oldest first, the new
measurement last) and hangs up. The hub (monitord/history.py) keeps the newest of the
burst live and stores the rest marked `stored`; a later connection re-pushes everything
and the repeats are dropped and counted.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from monitord.cli import main as cli_main
from monitord.clock import SimClock
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine import AlertEngine
from monitord.engine.replay import replay
from monitord.outbox import Outbox
from monitord.report.load import record_for, session_spans
from monitord.report.render import render_html, vitals_rows
from monitord.scenario import load_scenario
from monitord.simulators.chair import start_simulated_chair

# (sys, dia, pulse, age_s): the cuff's memory, from 5 days to 1 hour old.
MEMORY = [(128, 84, 70, 5 * 86400), (131, 85, 72, 4 * 86400), (190, 115, 96, 3 * 86400),
          (126, 80, 68, 2 * 86400), (124, 79, 66, 3600)]  # fmt: skip


def config(tmp: Path, scenario: list[dict[str, Any]], speed: float = 10.0) -> str:
    path = tmp / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in scenario) + "\n")
    memory = ", ".join(
        f"{{ sys = {s}, dia = {d}, pulse = {p}, age_s = {a} }}" for s, d, p, a in MEMORY
    )
    return (
        f'[site]\nid = "clinic"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp / "store.sqlite"}"\n'
        f'[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "cuff"\ndriver = "ble-bpm"\nquirks = ["episodic"]\n'
        f'simulate = "{path}"\nsimulate_speed = {speed}\nsimulate_memory = [{memory}]\n'
    )


async def test_memory_push_raises_nothing_live_measurement_raises_crisis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = [
        {"t": 0, "event": "session_start", "protocol": "esketamine"},
        {"t": 20, "event": "bp", "sys": 212, "dia": 124, "pulse": 90},  # live, after memory
        {"t": 100, "event": "bp", "sys": 150, "dia": 92, "pulse": 80},  # the next connection
        {"t": 130, "event": "end"},  # before the escalation due at 140
    ]
    cfg = loads_config(config(tmp_path, scenario))
    # what the live readings alone raise (`monitord replay`: no memory records in it)
    expected = list(replay(AlertEngine(), load_scenario(tmp_path / "scenario.jsonl")))
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 120)
    clock = daemon.chairs["chair-1"].clock
    assert isinstance(clock, SimClock)  # a simulated chair runs on the scenario's clock
    start = clock.start

    ob = Outbox(cfg.storage.path, cfg.storage, readonly=True)
    try:
        alerts = ob.alert_events("chair-1")
        readings = [r for r, _ in ob.readings("chair-1")]
        status = ob.get_state("chair/chair-1")
        rec = record_for(ob, session_spans(ob, "chair-1")[0])
    finally:
        ob.close()

    # the stored records raise nothing (no bp.severe pending for the 190/115, no baseline
    # from them): exactly what replay of the live readings gives; the live 212/124 raises
    # bp.crisis at its own time
    got = [(a.rule, a.event, round(a.t - start, 3)) for a in alerts]
    assert got == [(e.rule, e.event, e.t) for e in expected]
    assert ("bp.crisis", "raised", 20.0) in got and alerts[0].value["sys_mmHg"] == 212
    # in the store: the 5 records marked stored, with their device times; the live ones not
    stored = [r for r in readings if r.stored]
    assert sorted((r.values["sys_mmHg"], r.values["dia_mmHg"]) for r in stored) == sorted(
        (s, d) for s, d, _, _ in MEMORY
    )
    assert sorted(round(start - r.device_time.timestamp()) for r in stored if r.device_time) == (
        sorted(a for *_, a in MEMORY)
    )
    live = [(r.values["sys_mmHg"], round(r.t - start, 3)) for r in readings if not r.stored]
    assert live == [(212, 20.0), (150, 100.0)]
    # the second connection re-pushed all 6 earlier records: repeats, dropped and counted
    assert status["duplicate_bp_ignored"] == 6 and status["stored_records"] == 5
    assert status["devices"]["cuff"]["stored"] == 5

    # the report lists them as stored records, never as the session's readings
    rows = list(vitals_rows(rec))
    stored_rows = [r for r in rows if r["stored"] == "true"]
    assert len(stored_rows) == 5
    assert any((r["sys_mmHg"], r["dia_mmHg"]) == ("190", "115") for r in stored_rows)
    assert [r["sys_mmHg"] for r in rows if r["stored"] == "false" and r["sys_mmHg"]] == [
        "212",
        "150",
    ]
    html = render_html(rec)
    assert "Stored records (5)" in html and "190" in html.split('id="stored"')[1]

    # What the admin reads (docs/operations.md, "Where it shows"): `monitord status`'s
    # device-memory line and per-device `stored=`, and the JSON keys of `--json`.
    capsys.readouterr()
    assert cli_main(["status", "--db", str(cfg.storage.path)]) == 0
    text = capsys.readouterr().out
    assert "  device memory: 5 stored record(s) kept as history, 6 BP repeat(s) ignored\n" in text
    assert "stored=5" in next(ln for ln in text.splitlines() if "device cuff:" in ln)
    assert cli_main(["status", "--db", str(cfg.storage.path), "--json"]) == 0
    chair = json.loads(capsys.readouterr().out)["chairs"]["chair-1"]["state"]
    assert (chair["stored_records"], chair["duplicate_bp_ignored"]) == (5, 6)
