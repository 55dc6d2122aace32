"""`monitord replay` streams its scenario (issue 14): a 1,000,000-event file replays with a
peak RSS under 100 MB (the whole file loaded took ~1.4 GB). Memory, not time, is asserted:
the replay runs in a child and its peak RSS is read with getrusage(RUSAGE_CHILDREN);
events/s belongs to the bench (bench/replay_file.py, bench/results.md)."""

from __future__ import annotations

from pathlib import Path

from bench.replay_file import measure_replay, write_scenario

EVENTS = 1_000_000
LIMIT_MB = 100


def test_replay_of_a_million_events_stays_under_100_mb(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    write_scenario(p, EVENTS)
    m = measure_replay(p)
    assert m["rc"] == 0, m["stderr"]
    assert m["out_lines"] > 100  # the rules did work (alerts raised, escalated, cleared)
    peak_mb = m["maxrss_kb"] / 1024
    assert peak_mb < LIMIT_MB, f"peak RSS {peak_mb:.1f} MB"
