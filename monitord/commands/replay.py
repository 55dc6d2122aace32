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
    from monitord.scenario import ScenarioError, ScenarioEvent, ScenarioFile

    rules = RuleSet.default()
    protocols: dict[str, str] = {}
    if args.config:
        cfg = load_config(args.config)  # ConfigError: reported by monitord.cli, exit 78
        rules = RuleSet.from_overrides(cfg.alerts)
        protocols = {c.id: c.protocol for c in cfg.chairs}
    scenario = ScenarioFile(args.scenario)
    err = sys.stderr

    def refused(ev: ScenarioEvent, reason: str) -> None:
        # Out-of-order session commands are refused, never implied; the nurse (here: the
        # scenario's author) hears of it with the line (clinical-rules.md). Exit stays 0.
        err.write(f"{scenario.source}:{ev.line}: {ev.event} refused: {reason}\n")

    out = sys.stdout
    try:
        scenario.check()  # the whole file is valid before a single event is printed
        engine = AlertEngine(rules, default_protocol=protocols)
        for ev in replay(engine, scenario, refused):
            out.write(json.dumps(ev.to_replay()) + "\n")
    except ScenarioError as e:
        out.flush()
        print(f"monitord replay: {e}", file=err)
        return EX_DATAERR
    out.flush()
    return EX_OK
