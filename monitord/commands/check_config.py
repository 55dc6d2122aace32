"""`monitord check-config PATH`: prints `ok`, or one line per problem on stderr, exit 78."""

from __future__ import annotations

import argparse

from monitord.cli import EX_OK
from monitord.config import load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="TOML config file")


def main(args: argparse.Namespace) -> int:
    load_config(args.path)  # a ConfigError is reported by monitord.cli (exit 78)
    print("ok")
    return EX_OK
