"""`monitord run --config PATH`: the daemon. Exit 0 on SIGTERM/SIGINT, 78 on a bad config."""

from __future__ import annotations

import argparse
import asyncio
import logging

from monitord.cli import EX_OK
from monitord.config import ConfigError, load_config
from monitord.config_checks import check
from monitord.log import setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="TOML config file (never written)")
    p.add_argument(
        "--console", action="store_true", help="also print readings and alert events to stdout"
    )


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)  # a ConfigError is reported by monitord.cli (exit 78)
    errors, warnings = check(cfg, args.config)
    if errors:
        raise ConfigError(errors)
    setup_logging(cfg.log_level)
    for line in warnings:
        logging.getLogger("monitord").warning(line)
    from monitord.daemon import Daemon

    async def _main() -> None:
        console = (lambda s: print(s, flush=True)) if args.console else None
        await Daemon(cfg, console=console).run()

    asyncio.run(_main())
    return EX_OK
