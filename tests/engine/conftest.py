from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitord.engine import AlertEngine, RuleSet
from monitord.engine.replay import replay
from monitord.scenario import parse_scenario

CASES = Path(__file__).parent / "cases"


def run_lines(lines: list[str], rules: RuleSet | None = None) -> list[dict[str, Any]]:
    """Replay scenario lines in-process; events as replay JSON objects."""
    eng = AlertEngine(rules)
    return [ev.to_replay() for ev in replay(eng, parse_scenario(lines))]


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
