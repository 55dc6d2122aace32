"""`monitord replay SCENARIO [--config PATH]`: the alert engine over a scenario file, as fast
as it can; alert events as JSON Lines on stdout (design.md section 5). Exit 65 with one line
naming the line number for a malformed scenario, 78 for a bad config."""

from __future__ import annotations

import argparse
import json
import sys

from monitord.cli import EX_DATAERR, EX_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario file (JSON Lines)")
    p.add_argument("--config", help="use this config's [alerts] overrides and chair protocols")


def main(args: argparse.Namespace) -> int:
    from monitord.config import load_config
    from monitord.engine import AlertEngine, RuleSet
    from monitord.engine.replay import replay
    from monitord.scenario import ScenarioError, load_scenario

    rules = RuleSet.default()
    protocols: dict[str, str] = {}
    if args.config:
        cfg = load_config(args.config)  # ConfigError: reported by monitord.cli, exit 78
        rules = RuleSet.from_overrides(cfg.alerts)
        protocols = {c.id: c.protocol for c in cfg.chairs}
    try:
        events = load_scenario(args.scenario)
    except ScenarioError as e:
        print(f"monitord replay: {e}", file=sys.stderr)
        return EX_DATAERR
    engine = AlertEngine(rules, default_protocol=protocols)
    out = sys.stdout
    for ev in replay(engine, events):
        out.write(json.dumps(ev.to_replay()) + "\n")
    out.flush()
    return EX_OK
