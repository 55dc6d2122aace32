"""`monitord check-config PATH`: prints `ok`, or one line per problem on stderr, exit 78."""

from __future__ import annotations

import argparse
import sys

from monitord.cli import EX_CONFIG, EX_OK
from monitord.config import ConfigError, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="TOML config file")


def main(args: argparse.Namespace) -> int:
    try:
        load_config(args.path)
    except ConfigError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        return EX_CONFIG
    print("ok")
    return EX_OK
