"""`monitord` command line (design.md section 4). Each command lives in
`monitord/commands/<name>.py` with `add_arguments(parser)` and `main(args) -> int`; they are
imported lazily so `monitord --help` stays fast on a Pi.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from monitord import __version__

if TYPE_CHECKING:
    from monitord.config import Config
    from monitord.devices import SimulatedChairStarter

EX_OK = 0
# A bad option value a command checks itself (argparse's own usage errors are 2).
EX_USAGE = 64  # sysexits.h
EX_DATAERR = 65  # bad scenario / rejected payload (sysexits.h)
EX_UNAVAILABLE = 69  # a feature this install lacks, e.g. the simulators (sysexits.h)
EX_CANTCREAT = 73  # an output file or folder cannot be written (sysexits.h)
EX_CONFIG = 78  # bad configuration (sysexits.h)
# What a program killed by SIGPIPE returns in a shell (128 + 13): `monitord replay X | head`
# ends like `yes | head`, without a traceback.
EX_PIPE = 141

# One config option for every command (issue 19), with conf.d/*.toml beside a monitord.toml
# merged in name order (monitord/config_layers.py); any other file is read alone.
DEFAULT_CONFIG = "/etc/monitord/monitord.toml"

# Simulated chairs are played by `simulators/`, which the daemon core never imports
# (issue 15): the entry points that can play one (`run`, `demo`) attach it by name, as
# the command table below names the commands' modules.
SIMULATED_CHAIRS = ("monitord.simulators.chair", "start_simulated_chair")
# Its check of the serial simulators the config's simulated devices need (one line each).
SIMULATOR_PROBLEMS = ("monitord.simulators.chair", "simulator_problems")
EX_SOFTWARE = 70  # a driver descriptor naming no usable simulator (sysexits.h)


class SimulatorsUnusable(Exception):
    """A simulated device's driver names no usable simulator; the message is one line."""


# name -> (module, one-line help); `simulate` lives with the simulators it runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("monitord.commands.run", "run the daemon"),
    "check-config": ("monitord.commands.check_config", "validate a config file"),
    "demo": ("monitord.commands.demo", "simulated chairs play a clinical scenario, live"),
    "replay": ("monitord.commands.replay", "run the alert engine over a scenario file"),
    "decode": ("monitord.commands.decode", "decode device payloads to JSON"),
    "simulate": ("monitord.simulators.commands.simulate", "run device simulators from a scenario"),
    "status": ("monitord.commands.status", "state of chairs, devices, links, outbox"),
    "doctor": ("monitord.commands.doctor", "check ports, adapter, broker, database"),
    "report": ("monitord.commands.report", "session monitoring report (PDF/HTML/CSV)"),
    "backup": ("monitord.commands.backup", "a consistent copy of the store, also while it runs"),
    "capture": ("monitord.commands.capture", "record what a device sends, for field support"),
    "scan": ("monitord.commands.scan", "list nearby BLE BP/HR/SpO2 devices, with config lines"),
    "station": ("monitord.commands.station", "the nurses' station: live wallboard, alarms, acks"),
}


# Commands that play simulated devices: they need the simulators and bumble, which a
# production install (the .deb, `pip install monitord`) leaves out; `monitord[sim]` has them.
NEEDS_SIM = frozenset({"demo", "simulate"})
SIM_MODULES = ("monitord.simulators", "bumble")


def missing_sim() -> str | None:
    """The first module of the `sim` extra that is not installed, or None."""
    for name in SIM_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return name
    return None


def simulated_chairs(cfg: Config) -> SimulatedChairStarter | None:
    """What plays `cfg`'s simulated chairs (None when it has none: nothing is loaded)."""
    if not any(c.simulated for c in cfg.chairs):
        return None
    module, name = SIMULATED_CHAIRS
    starter = getattr(importlib.import_module(module), name)
    # Checked before the daemon starts: the chair's player raised it inside the daemon,
    # a traceback "(a bug: please report it)" restarted forever, and `demo` never ended.
    module, name = SIMULATOR_PROBLEMS
    if problems := getattr(importlib.import_module(module), name)(cfg):
        raise SimulatorsUnusable(problems[0])
    return cast("SimulatedChairStarter", starter)


def bad_seconds(command: str, option: str, value: float, most: float) -> bool:
    """True, with one line on stderr, when `value` is no number of seconds for `option`
    (> 0, finite, at most `most`): the caller exits EX_USAGE, as for every option value out
    of range (docs/commands.md); a value that is no number is argparse's (exit 2).
    `doctor --timeout 0` timed every check out at once, -5 read "timed out after -5.0
    seconds", 1e300 ended in an OverflowError traceback; it was exit 2 where `capture` and
    `scan --seconds 0` were 64, and `--seconds nan` was taken."""
    if 0 < value <= most:  # False for NaN too
        return False
    print(
        f"monitord {command}: {option} {value:g}: must be > 0 and at most {most:g}", file=sys.stderr
    )
    return True


MAX_SECONDS = 3600  # doctor --timeout, scan --seconds: an hour, far above any wait of theirs
MAX_CAPTURE_SECONDS = 7 * 86400  # capture --seconds: a week, far above a session's field capture


def as_root(command: str, options: Sequence[str]) -> str:
    """`command` with `options` again under sudo, for a one-line "run it as root" advice:
    the installed executable by its full path (sudo's PATH may not have
    /opt/monitord/bin)."""
    exe = sys.argv[0] if os.path.basename(sys.argv[0]) == "monitord" else "monitord"
    return "sudo " + shlex.join([exe, command, *options])


def common_options() -> argparse.ArgumentParser:
    """The parent parser every command shares: `-c/--config` with one default. A command
    may redefine `--config` in its own `add_arguments` (conflict_handler="resolve" lets
    the later definition win), e.g. `replay`, for which a config is optional."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=DEFAULT_CONFIG,
        help="config file; for a monitord.toml, *.toml in conf.d/ beside it are merged in "
        "name order (default: %(default)s)",
    )
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitord",
        description="Bedside vital-signs monitoring daemon (NIBP, HR, SpO2 -> alerts, "
        "MQTT, InfluxDB).",
    )
    parser.add_argument("--version", action="version", version=f"monitord {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(
            name, help=help_, description=help_, parents=[common], conflict_handler="resolve"
        )
        # Only the chosen command's module is imported to build its arguments.
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


# `monitord run`: a stop signal (systemd stopping a unit that is still starting) is a clean
# stop from the first moment the command is known, not only once the daemon's loop handles
# it: Python's default would kill the process, or raise KeyboardInterrupt mid-start. The
# signals asked for are kept here for monitord/commands/run.py. SIGHUP is one of them when it
# means the terminal went; sent to a service it means "reload", kept in `reload_asked` to be
# said once logging is set up, never the default's death (monitord/hangup.py).
stop_asked: list[int] = []
reload_asked: list[int] = []


def catch_stop_signals() -> None:
    from monitord import hangup

    for sig in hangup.stop_signals():
        signal.signal(sig, lambda signum, _frame: stop_asked.append(signum))
    hangup.early_reload(reload_asked)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; `argv` None: the process's own (`sys.argv`), whose logging is then
    set up here, one way for every command. A caller in-process that passes `argv` (a test)
    keeps its own logging."""
    try:
        return _command(argv)
    finally:
        _end_output()


def _own_logging() -> None:
    """Every command's log (monitord/log.py): its lines written by the log's own thread,
    one line each, redacted, at the journal's priority; a crash's traceback one line of it.
    WARNING and above, as Python's last resort wrote them, until a command that reads a
    config sets its level: `capture`, `scan`, `doctor` never did, and their lines (a
    device's port missing for a week's capture, bleak's, D-Bus's) went through that last
    resort, written by the event loop itself (held while stderr was not read) and
    unredacted. What a command prints on stdout is not the log's: unchanged."""
    from monitord.log import setup_logging

    setup_logging("WARNING")


def _command(argv: Sequence[str] | None) -> int:
    args_given = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_given if not a.startswith("-")), None)
    if chosen == "run":
        catch_stop_signals()  # before the imports of its start (pydantic: ~0.3 s)
        # No automatic collection over the objects the start builds (monitord/gcpacer.py).
        from monitord.gcpacer import hold_until_paced

        hold_until_paced()
    if argv is None:
        _own_logging()
    # Checked before parsing: without the simulators, `simulate`'s arguments are unknown.
    if chosen in NEEDS_SIM and (gone := missing_sim()) is not None:
        print(
            f"monitord {chosen}: the simulators are not installed ({gone} is missing); "
            "install the sim extra: pip install 'monitord[sim]' (or from a checkout: "
            "bash scripts/setup.sh demo)",
            file=sys.stderr,
        )
        return EX_UNAVAILABLE
    parser = build_parser(only=chosen if chosen in COMMANDS else "")
    args = parser.parse_args(args_given)
    module = importlib.import_module(COMMANDS[args.command][0])
    # The drivers register with the config on import (as Telegraf's main imports all its
    # plugins): every command that reads a config validates device keys with them.
    import monitord.drivers.registry  # noqa: F401
    from monitord.config import ConfigError

    try:
        rc: int = module.main(args)
    except ConfigError as e:
        # Every command that reads a config reports it the same way: one line per problem.
        from monitord.log import print_error

        for line in e.lines:
            print_error(line)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    return rc


def _end_output() -> None:
    """Once the command is done (or crashed, before its traceback): the log's last lines
    written, then stdout and stderr flushed. One that cannot be (EIO: `sudo monitord run`
    whose SSH session dropped, sudo's pty gone; EPIPE: its reader ended) is pointed at
    /dev/null: the interpreter's final flush would fail on it again and turn the command's
    exit code, a clean stop's 0 included, into 120. Nothing more can reach that output."""
    from monitord.log import drain

    drain()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with the descriptor closed
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def _closed_pipe() -> int:
    """The reader of our stdout went away (`| head`): stop quietly. stdout is pointed at
    /dev/null so the interpreter's final flush does not raise again at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EX_PIPE


if __name__ == "__main__":
    sys.exit(main())
