"""`monitord demo`: simulated chairs play clinical scenarios fast; alerts shown live.

Runs on embedded defaults: no config, broker or database needed. Data is kept in a local
outbox (`--store`); MQTT and InfluxDB on localhost are used too when they answer.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import socket
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from monitord.cli import EX_CANTCREAT, EX_CONFIG, EX_OK, EX_USAGE
from monitord.config import Config, parse_config
from monitord.config_devices import MAX_SIMULATE_SPEED
from monitord.log import setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    # The shared -c/--config (monitord.cli.common_options) redefined: the demo plays its
    # embedded defaults; a config named here was taken and ignored, its chairs never played.
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=None,
        help="not read: the demo plays its embedded defaults (a config's simulated chairs: "
        "monitord run -c PATH)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="virtual-clock speed (default: the embedded 120x: 2 h in ~1 min)",
    )
    p.add_argument(
        "--store",
        default="var/demo-outbox.sqlite",
        help="local store for the demo's data (default: %(default)s)",
    )
    p.add_argument("--offline", action="store_true", help="do not try MQTT or InfluxDB")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def demo_config(store: Path, speed: float | None, offline: bool) -> tuple[Config, list[str]]:
    raw: dict[str, Any] = tomllib.loads(
        resources.files("monitord").joinpath("defaults/demo.toml").read_text()
    )
    scen = Path(str(resources.files("monitord.simulators").joinpath("scenarios")))
    notes: list[str] = []
    raw["storage"] = {"path": str(store.resolve())}
    for chair in raw["chairs"]:
        for dev in chair["devices"]:
            if speed is not None:
                dev["simulate_speed"] = speed
    mq = raw["mqtt"]
    if offline or not _reachable(mq["host"], mq["port"]):
        mq["enabled"] = False
        notes.append(f"MQTT broker {mq['host']}:{mq['port']} not used (unreachable or --offline)")
    else:
        notes.append(
            f"publishing to MQTT {mq['host']}:{mq['port']} under monitord/{raw['site']['id']}/"
        )
    ix = raw["influx"]
    u = urlparse(ix["url"])
    if offline or not _reachable(u.hostname or "127.0.0.1", u.port or 8086):
        ix["enabled"] = False
        notes.append(f"InfluxDB {ix['url']} not used (unreachable or --offline)")
    else:
        notes.append(f"writing to InfluxDB {ix['url']} database {ix.get('database')}")
    return parse_config(raw, source="<demo defaults>", base=scen), notes


class _Lines:
    """The demo's lines on stdout (its notes, the readings and alerts live, its end), each
    one write: `print` writes a line's text and its newline apart (two writes under
    PYTHONUNBUFFERED=1), and the log's thread (monitord/logwriter.py) could write a line
    between them on a terminal both share. A stdout that goes (a terminal that closed
    under a demo left running: `nohup` keeps a terminal's output there; its `| head`
    done) raised in the readings' listener, an ERROR "a bug" at every batch, then in
    "scenario finished": exit 1 (EIO), no report written. Now it ends the lines, said
    once at WARNING, and the demo plays to its end and writes its reports."""

    def __init__(self) -> None:
        self.gone = False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError) as e:
            self.gone = True
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            logging.getLogger("monitord").warning(STDOUT_GONE.format(why=why))


# Said once when the demo's stdout goes.
STDOUT_GONE = "demo: stdout is closed ({why}): no more demo lines; the demo plays on"


def main(args: argparse.Namespace) -> int:
    if args.config is not None:
        print(
            f"monitord demo: -c {args.config}: the demo plays its embedded defaults and reads "
            f"no config; play a config's simulated chairs with: monitord run -c {args.config}",
            file=sys.stderr,
        )
        return EX_USAGE
    if args.speed is not None and not 0 < args.speed <= MAX_SIMULATE_SPEED:  # also NaN
        # Checked here: the config's check named each simulated device of the embedded
        # defaults ("<demo defaults>: chairs[0].devices[0].simulate_speed: ..."), not --speed.
        print(
            f"monitord demo: --speed {args.speed:g}: must be > 0 and at most {MAX_SIMULATE_SPEED}",
            file=sys.stderr,
        )
        return EX_USAGE
    store = Path(args.store)
    store.parent.mkdir(parents=True, exist_ok=True)
    cfg, notes = demo_config(store, args.speed, args.offline)
    setup_logging("WARNING")
    from monitord.cli import EX_SOFTWARE, SimulatorsUnusable, simulated_chairs
    from monitord.daemon import Daemon

    speed = cfg.chairs[0].speed if cfg.chairs else 1.0
    say = _Lines()
    say(f"monitord demo: {len(cfg.chairs)} simulated chair(s) at {speed:g}x; local store {store}")
    for n in notes:
        say(f"monitord demo: {n}")

    # Simulated chairs start their clocks at a whole second, at or after this one.
    started = float(int(time.time()))
    from monitord.outbox import SchemaTooNew
    from monitord.storeopen import EX_TEMPFAIL, StoreLocked

    try:
        daemon = Daemon(
            cfg,
            console=say,
            stop_when_played=True,
            simulated=simulated_chairs(cfg),
            command="demo",
        )
    except StoreLocked as e:  # another demo or daemon on this store (monitord/storeopen.py)
        print(e, file=sys.stderr)
        return EX_TEMPFAIL
    except SchemaTooNew as e:
        print(f"monitord demo: refusing to start: {e}", file=sys.stderr)
        return EX_CONFIG
    except SimulatorsUnusable as e:
        print(f"monitord demo: {e}", file=sys.stderr)
        return EX_SOFTWARE
    asyncio.run(daemon.run())
    say("monitord demo: scenario finished. " + daemon.summary())
    # Session reports (REMS monitoring record) for the sessions this run played.
    from monitord.commands.report import (
        NO_PDF_NOTICE,
        CannotWrite,
        write_reports,
    )
    from monitord.engine.rules import RuleSet

    if importlib.util.find_spec("matplotlib") is None:  # the `report` extra
        say(NO_PDF_NOTICE.replace("monitord report", "monitord demo"))
    try:
        written = write_reports(
            store,
            store.parent / "reports",
            # This run's sessions: its simulated clocks start after an earlier run's
            # on this store (monitord/simstart.py), so `started` could take that in.
            since_t=max(started, daemon.sim_start),
            tz=cfg.site.timezone,
            rules=RuleSet.from_overrides(cfg.alerts),
        )
    except CannotWrite as e:  # was a traceback after the whole scenario had run
        print(f"monitord demo: reports not written: {e}", file=sys.stderr)
        return EX_CANTCREAT
    for path in written:
        say(f"monitord demo: report {path}")
    return EX_OK
