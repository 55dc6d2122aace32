"""bench.replay stays importable and runnable by the bench harness (no timing asserted)."""

from __future__ import annotations

from bench.replay import run


def test_bench_replay_quick_runs_and_exercises_rules() -> None:
    res = run(quick=True)
    assert res["replay_eps"] > 0 and res["inputs"] > 100_000
    rules = {k.split(":")[0] for k in res["events_by_rule"]}
    assert {"hr.high", "spo2.low", "bp.severe", "tech.sensor_off", "tech.device_lost"} <= rules
