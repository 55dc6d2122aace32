"""`monitord run --config PATH`: the daemon. Exit 0 on SIGTERM/SIGINT (and on SIGHUP from a
closing terminal; sent to the service it is said and changes nothing: monitord/hangup.py),
78 on a bad config or a store written by a newer monitord, 75 when another daemon holds the
store (one line on stderr each; monitord/storeopen.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
from pathlib import Path

from monitord import hangup
from monitord.cli import EX_CONFIG, EX_OK, catch_stop_signals, reload_asked, stop_asked
from monitord.config import NO_CHAIRS, ConfigError, load_config
from monitord.config_checks import check
from monitord.console import StdoutConsole
from monitord.log import print_error, setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--console", action="store_true", help="also print readings and alert events to stdout"
    )


def main(args: argparse.Namespace) -> int:
    # A stop asked for while the daemon starts is a clean stop: monitord.cli has caught the
    # stop signals since it knew the command (again here for a caller that did not). Python's
    # default would kill the process, perhaps with the store open and its resume state
    # unwritten.
    catch_stop_signals()
    cfg = load_config(args.config)  # a ConfigError is reported by monitord.cli (exit 78)
    errors, warnings = check(cfg, args.config)
    if not cfg.chairs:
        # Valid for `monitord station` (it finds the chairs on the broker), not for a daemon.
        errors.insert(0, f"{args.config}: chairs: {NO_CHAIRS}")
    if errors:
        raise ConfigError(errors)
    setup_logging(cfg.log_level)
    log = logging.getLogger("monitord")
    for line in warnings:
        log.warning(line)
    from monitord.cli import EX_SOFTWARE, SimulatorsUnusable, simulated_chairs
    from monitord.daemon import Daemon
    from monitord.outbox import SchemaTooNew
    from monitord.storecheck import start_again
    from monitord.storeopen import EX_TEMPFAIL, StoreLocked

    console = StdoutConsole() if args.console else None

    async def _main() -> int:
        # The loop's handlers replace the early ones before the store opens (Daemon()): a
        # signal that comes while it opens waits for the loop's first turn, by then handled
        # by the daemon's own (Daemon.run), so none falls between the two.
        loop = asyncio.get_running_loop()
        hangup.on_loop(loop, lambda: stop_asked.append(0), "run")  # which one: no matter
        if reload_asked:  # a SIGHUP (sent by hand) while the command started
            hangup.say_reload("run")
        daemon = Daemon(cfg, console=console, simulated=simulated_chairs(cfg))
        if stop_asked:
            daemon.stop_event.set()
        try:
            await daemon.run()
        finally:
            hangup.to_exit(loop)  # main() is the process's command (monitord.cli)
        # A bug in the store's close (logged at ERROR): not a clean stop, and systemd
        # should say so (a unit marked failed), not "Deactivated successfully".
        return EX_SOFTWARE if daemon.stopping.bug is not None else EX_OK

    try:
        code = asyncio.run(_main())
    except StoreLocked as e:
        print_error(str(e))
        return EX_TEMPFAIL
    except SchemaTooNew as e:
        print_error(f"monitord: refusing to start: {e}")
        return EX_CONFIG
    except SimulatorsUnusable as e:
        print_error(f"monitord: {e}")
        return EX_SOFTWARE
    except sqlite3.DatabaseError as e:  # a bad page met by a start that checks after
        if console is not None:
            console.drain()
        start_again(Path(cfg.storage.path), e)  # returns only if it was not that
        raise
    finally:
        if console is not None:  # its last lines (the stop's), if its reader takes them
            console.drain()
    return code
