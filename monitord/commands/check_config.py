"""`monitord check-config [-c PATH]`: prints `ok` (warnings, if any, on stderr), or one line per
problem on stderr, exit 78."""

from __future__ import annotations

import argparse
import sys

from monitord.cli import EX_OK
from monitord.config import ConfigError, load_config
from monitord.config_checks import check


def add_arguments(p: argparse.ArgumentParser) -> None:
    # The positional form of earlier versions (`check-config PATH`) still works, so
    # scripts written for it keep running; -c/--config is the documented one.
    p.add_argument("path", nargs="?", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    path = args.path or args.config
    cfg = load_config(path)  # a ConfigError is reported by monitord.cli (exit 78)
    errors, warnings = check(cfg, path)
    if errors:
        raise ConfigError(errors)
    for line in warnings:
        print(line, file=sys.stderr)
    print("ok")
    return EX_OK
