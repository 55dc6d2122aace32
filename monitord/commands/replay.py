"""`monitord replay SCENARIO [--config PATH]`: the alert engine over a scenario file, as fast
as it can; alert events as JSON Lines on stdout (design.md section 5). Exit 65 with one line
naming the line number for a malformed scenario, 78 for a bad config."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator

from monitord.cli import EX_DATAERR, EX_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario file (JSON Lines)")
    # Replay must give the same events on every machine: a config is used only when named
    # (no default), so it redefines the shared -c/--config (monitord.cli.common_options).
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=None,
        help="use this config's [alerts] overrides and chair protocols (default: none)",
    )


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
    # Output is held back (on disk: memory stays flat) until the whole file was read, so a
    # bad line anywhere exits 65 before a single event is printed; the file is read once
    # (twice only when a chair is first named after lines without one).
    out = tempfile.TemporaryFile("w+", encoding="utf-8")
    err = tempfile.TemporaryFile("w+", encoding="utf-8")

    def refused(ev: ScenarioEvent, reason: str) -> None:
        # Out-of-order session commands are refused, never implied; the scenario's author
        # hears of it with the line (clinical-rules.md). The exit code stays 0.
        err.write(f"{scenario.source}:{ev.line}: {ev.event} refused: {reason}\n")

    def run(events: Iterator[ScenarioEvent]) -> None:
        engine = AlertEngine(rules, default_protocol=protocols)
        for ev in replay(engine, events, refused):
            out.write(json.dumps(ev.to_replay()) + "\n")
        for _ in events:
            pass  # after `end`: the rest of the file is still validated

    with out, err:
        try:
            run(scenario.optimistic())
            if scenario.replay_again:
                out.seek(0)
                out.truncate()
                err.seek(0)
                err.truncate()
                run(iter(scenario))
        except ScenarioError as e:
            print(f"monitord replay: {e}", file=sys.stderr)
            return EX_DATAERR
        for src, dst in ((err, sys.stderr), (out, sys.stdout)):
            src.seek(0)
            shutil.copyfileobj(src, dst)
            dst.flush()
    return EX_OK
