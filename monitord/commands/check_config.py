"""`monitord check-config PATH`: prints `ok` (warnings, if any, on stderr), or one line per
problem on stderr, exit 78."""

from __future__ import annotations

import argparse
import sys

from monitord.cli import EX_OK
from monitord.config import ConfigError, load_config
from monitord.config_checks import check


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="TOML config file")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.path)  # a ConfigError is reported by monitord.cli (exit 78)
    errors, warnings = check(cfg, args.path)
    if errors:
        raise ConfigError(errors)
    for line in warnings:
        print(line, file=sys.stderr)
    print("ok")
    return EX_OK
