"""The shipped demo scenarios play live as they replay.

A measurement of a device while the scenario has it lost (between its `device_lost` and
`device_back`) cannot be played live: the simulated device is out of range and the reading
is lost, where replay takes it. The demo once put the strap's reading of t=5050 before its
`device_back` of the same t (a player WARNING in every fast demo, and a reading replay had
and the live chair had not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "simulators" / "scenarios").glob("*.jsonl"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_no_reading_of_a_device_while_it_is_lost(path: Path) -> None:
    lost: set[str] = set()
    for ev in load_scenario(path):
        if ev.event == "device_lost":
            lost.add(ev.device)
        elif ev.event == "device_back":
            lost.discard(ev.device)
        elif ev.event in ("bp", "hr", "spo2"):
            assert ev.event not in lost, f"t={ev.t}: {ev.event} reading while its device is lost"


def test_the_demo_scenarios_are_found() -> None:
    assert {p.name for p in SCENARIOS} >= {"demo-esketamine.jsonl", "demo-iv-ketamine.jsonl"}
