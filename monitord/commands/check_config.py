"""`monitord check-config [PATH | -c PATH]`: prints `ok` (warnings, if any, on stderr), or
one line per problem on stderr, exit 78."""

from __future__ import annotations

import argparse
import sys

from monitord.cli import DEFAULT_CONFIG, EX_OK
from monitord.config import ConfigError, load_config
from monitord.config_checks import check

EX_USAGE = 2  # as argparse's own usage errors


def add_arguments(p: argparse.ArgumentParser) -> None:
    # `check-config PATH` is the stable form (scripts and the design's command table use
    # it); -c/--config, which every command takes, names the same file.
    p.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the config to check (the same as -c PATH)",
    )


def main(args: argparse.Namespace) -> int:
    if args.path and args.config not in (DEFAULT_CONFIG, args.path):
        # Both forms, two files: one would have been checked and `ok` said of the other.
        print(
            f"monitord check-config: two configs given ({args.path} and -c {args.config}): "
            "give one",
            file=sys.stderr,
        )
        return EX_USAGE
    path = args.path or args.config
    cfg = load_config(path)  # a ConfigError is reported by monitord.cli (exit 78)
    # Judged for the daemon: a secret the service user reads is no error for an admin.
    errors, warnings = check(cfg, path, as_daemon=False)
    if errors:
        raise ConfigError(errors)
    for line in warnings:
        print(line, file=sys.stderr)
    print("ok")
    return EX_OK
