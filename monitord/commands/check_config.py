"""`monitord check-config [--central] [--files] [PATH | -c PATH]`: prints `ok` (warnings,
if any, on stderr), or one line per problem on stderr, exit 78. `--central`: the config of
a central machine, which runs only `monitord report --from influx` and needs no [[chairs]].
`--files`: the files the config is read from, one a line, nothing checked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitord.cli import DEFAULT_CONFIG, EX_OK
from monitord.config import NO_CHAIRS, ConfigError, load_config, where
from monitord.config_checks import check
from monitord.config_layers import LayerError, config_files

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
    # The role is said by the admin, not guessed: a central machine's config ([site] and
    # [influx]) and a chair Pi's that lost its [[chairs]] read the same, and the Pi's must
    # still be refused (it would run and monitor nothing). A station's says [station].
    p.add_argument(
        "--central",
        action="store_true",
        help="a central machine's config, for `monitord report --from influx` only "
        "(no [[chairs]] needed, as report reads it)",
    )
    # The daemon's own rule for conf.d/ (config_layers.taken), for the install's and the
    # package's upgrade checks: a glob of their own took what the daemon leaves out.
    p.add_argument(
        "--files",
        action="store_true",
        help="print the files the config is read from (for a monitord.toml, it and the "
        "conf.d/*.toml merged in, in order), one a line; nothing is checked",
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
    if args.files:
        try:
            files = config_files(Path(path))
        except LayerError as e:  # a conf.d/ not to be listed: the upgrade check stops on it
            raise ConfigError([e.line]) from None
        for f in files:
            print(f)
        return EX_OK
    try:
        # A ConfigError is reported by monitord.cli (exit 78).
        cfg = load_config(path, chairs_optional=args.central)
    except ConfigError as e:
        # The IT admin checking the central machine's config was refused with "monitors
        # nothing" and no word of the way that config is checked.
        hint = (
            " (a central machine's config, for `monitord report --from influx` alone: "
            f"check it with `monitord check-config --central {path}`)"
        )
        lines = [ln + hint if ln.endswith(NO_CHAIRS) else ln for ln in e.lines]
        raise ConfigError(lines) from None
    # Judged for the daemon: a secret the service user reads is no error for an admin.
    errors, warnings = check(cfg, path, as_daemon=False)
    if args.central and cfg.influx.api != "v1":
        from monitord.report.influxload import V1_ONLY

        # `ok` would have been said of a config every `report --from influx` refuses.
        errors.append(f"{where(cfg, path, 'influx.api')}: {V1_ONLY}")
    if errors:
        raise ConfigError(errors)
    for line in warnings:
        print(line, file=sys.stderr)
    print("ok")
    return EX_OK
