"""design.md section 2: a simulated chair on its virtual clock raises exactly the alerts that
`monitord replay` gives for the same scenario.

The live side is the whole daemon path: the scenario player drives a BLE cuff and an HR
strap (bumble peripherals on a virtual link, reached through bleak) and a Masimo oximeter
(on a pseudo-terminal, through the serial transport); readings are decoded, stamped on the
chair's clock, stored, and fed to the engine by the chair task. The reference side is the
same scenario through `monitord.engine.replay`. Alert ids embed absolute times and device
names, so events are compared on (t from start, rule, event, priority, kind, phase, level,
by).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from monitord.clock import SimClock
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine import AlertEngine
from monitord.engine.replay import replay
from monitord.models import AlertEvent, Reading
from monitord.outbox import Outbox
from monitord.scenario import load_scenario
from monitord.simulators.chair import start_simulated_chair


def scenario(lost: str = "hr") -> list[dict[str, Any]]:
    """`lost`: the scenario device kind whose link drops for t in [1600, 1700]. While a
    device is unplugged it delivers nothing, so its kinds have no samples then."""
    silent = {"hr": {"hr"}, "bp": {"bp", "hr", "spo2"}}[lost]  # the IntelliVue carries all

    def up(t: int, kind: str) -> bool:
        return kind not in silent or not 1600 <= t <= 1700

    ev: list[dict[str, Any]] = [{"t": 0, "event": "session_start", "protocol": "esketamine"}]
    for t, s, d in [
        (30, 128, 80),
        (150, 130, 82),
        (270, 129, 81),
        (900, 175, 100),
        (1200, 185, 112),
        (1320, 202, 118),
        (1800, 170, 100),
        (2100, 165, 98),
    ]:
        ev.append({"t": t, "event": "bp", "sys": s, "dia": d, "pulse": 75})
    ev.append({"t": 1000, "event": "bp", "sys": 120, "dia": 80, "error": True})  # cuff error
    ev.append({"t": 300, "event": "dose_start"})
    ev.append({"t": 1500, "event": "ack", "rule": "bp.crisis", "by": "nurse-7"})
    for t in range(5, 3600, 5):
        if up(t, "hr"):
            ev.append({"t": t, "event": "hr", "hr": 155 if 600 <= t < 700 else 72 + t % 3})
        if up(t, "spo2"):
            spo2 = 84 if 1000 <= t < 1025 else 97
            ev.append({"t": t, "event": "spo2", "spo2": spo2, "pulse": 72})
    ev.append({"t": 1600, "event": "device_lost", "device": lost})
    ev.append({"t": 1700, "event": "device_back", "device": lost})
    ev.append({"t": 3600, "event": "end"})
    ev.sort(key=lambda e: e["t"])
    return ev


# BLE cuff + BLE strap + Masimo on a pty (the strap drops out); and one IntelliVue on a pty
# carrying all three (it is unplugged: the pty closes, a new one appears behind the same
# by-id style path, and the transport re-associates).
SETUPS = {
    "ble-cuff+ble-strap+masimo": (
        "hr",
        (("cuff", "ble-bpm"), ("strap", "ble-hrm"), ("ox", "masimo-ascii")),
    ),
    "intellivue": ("bp", (("monitor", "intellivue"),)),
}


# The scenario fields each kind carries, by reading value name (the BP pulse is optional on
# the wire; the scenarios here always give it).
FIELDS = {
    "bp": ("sys_mmHg", "dia_mmHg", "pulse_bpm"),
    "hr": ("hr_bpm",),
    "spo2": ("spo2_pct", "pulse_bpm"),
}
_SCEN = {
    "sys_mmHg": "sys",
    "dia_mmHg": "dia",
    "pulse_bpm": "pulse",
    "hr_bpm": "hr",
    "spo2_pct": "spo2",
}


def measured(e: dict[str, Any]) -> tuple[Any, ...]:
    """A scenario measurement as the reading it must become; a cuff error is invalid (its
    values, NaN on BLE, numbers flagged invalid on the IntelliVue, are not compared)."""
    if e.get("error"):
        return (float(e["t"]), e["event"], (), False)
    vals = tuple(sorted((k, float(e[_SCEN[k]])) for k in FIELDS[e["event"]] if _SCEN[k] in e))
    return (float(e["t"]), e["event"], vals, True)


def values(r: Reading) -> tuple[Any, ...]:
    """What a reading says, as `measured` states it (an invalid reading: nothing)."""
    if not r.valid:
        return ()
    fields = FIELDS[str(r.kind)]
    return tuple(
        sorted((k, float(v)) for k, v in r.values.items() if k in fields and v is not None)
    )


async def play_simulated_chair(
    tmp_path: Path, devices: str
) -> tuple[list[AlertEvent], list[tuple[Reading, str | None]], float]:
    """Plays `devices` (TOML `[[chairs.devices]]` tables, simulated) on one chair of a whole
    daemon, MQTT and InfluxDB off, until played; its stored alert events, its stored
    readings and its simulated clock's start."""
    cfg = loads_config(
        '[site]\nid = "sim-test"\n'
        f"[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        f'[[chairs]]\nid = "chair-1"\n{devices}'
    )
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 120)
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        got = ob.alert_events("chair-1")
        readings = ob.readings("chair-1")
    finally:
        ob.close()
    clock = daemon.chairs["chair-1"].clock
    assert isinstance(clock, SimClock)  # a simulated chair runs on the scenario's clock
    return got, readings, clock.start


def key(e: AlertEvent, start: float) -> tuple[Any, ...]:
    # `by` too: a simulated chair acknowledged "by scenario" whatever the scenario's `by`
    # said, where replay used it. (Messages name devices: the scenario's kind in replay,
    # the configured id live.)
    return (round(e.t - start, 3), e.rule, e.event, e.priority, e.kind, e.phase, e.level, e.by)


@pytest.mark.parametrize("setup", list(SETUPS))
async def test_simulated_chair_raises_what_replay_raises(tmp_path: Path, setup: str) -> None:
    lost, devs = SETUPS[setup]
    events = scenario(lost)
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    expected = list(replay(AlertEngine(), load_scenario(path)))
    rules = {e.rule for e in expected}
    # the scenario is worth comparing: it exercises BP, HR, SpO2, device, timer rules
    assert {
        "bp.crisis",
        "bp.rise",
        "hr.very_high",
        "spo2.very_low",
        "tech.bp_invalid",
        "tech.device_lost",
        "session.check_missed",
        "tech.bp_overdue",
    } <= rules

    # The player holds the chair clock at each event until its effect is seen, so the speed
    # only sets how long the clock runs free between events: at 1200 (was 300) the run is
    # bound by the readings' own path, not by waiting out 5-s gaps (BLE 12 -> ~4 s). The
    # IntelliVue's readings come with its polls: a 2-ms poll (was 10) halves its run
    # (~13 -> ~7 s) for the same CPU time.
    devices = "".join(
        f'[[chairs.devices]]\nid = "{i}"\ndriver = "{d}"\nsimulate = "{path}"\n'
        f"simulate_speed = 1200\n" + ("poll_interval_s = 0.002\n" if d == "intellivue" else "")
        for i, d in devs
    )
    got, readings, start = await play_simulated_chair(tmp_path, devices)
    # every scenario measurement arrived once, with its values, stamped with start + t
    want = sorted(measured(e) for e in events if e["event"] in ("bp", "hr", "spo2"))
    have = sorted((round(r.t - start, 3), str(r.kind), values(r), r.valid) for r, _ in readings)
    assert have == want, (sorted(set(want) - set(have))[:5], sorted(set(have) - set(want))[:5])
    assert [key(e, start) for e in got] == [key(e, 0.0) for e in expected]
