"""`monitord station -c PATH`: the nurses' station web server (docs/station.md).
`monitord station -c PATH --add-nurse NAME` appends a nurse to `[station] nurses_file`
(the PIN is asked twice on a terminal, or read as one line from stdin).
Exit 0 on SIGTERM/SIGINT (and on SIGHUP from a closing terminal; sent to the service it is
said and changes nothing: monitord/hangup.py), 78 on a bad config (one line per error)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import socket
import sys

from monitord import hangup
from monitord.cli import EX_CONFIG, EX_DATAERR, EX_OK
from monitord.config import ConfigError, load_config
from monitord.config_checks import check
from monitord.log import print_error, setup_logging

# The station's own file, as systemd/monitord-station.service and docs/station.md name it
# (not the daemon's monitord.toml: a station host may run no daemon).
DEFAULT_CONFIG = "/etc/monitord/station.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=DEFAULT_CONFIG,
        help="TOML config with [station] (default: %(default)s)",
    )
    p.add_argument("--add-nurse", metavar="NAME", help="add a nurse to the nurses file, then exit")


def _add_nurse(path: os.PathLike[str], name: str) -> int:
    from monitord.station.auth import NursesFileError, load_nurses, nurse_line

    if sys.stdin.isatty():
        pin = getpass.getpass(f"PIN for {name}: ")
        if getpass.getpass("again: ") != pin:
            print("monitord station: the two PINs differ; nothing written", file=sys.stderr)
            return EX_DATAERR
    else:
        pin = sys.stdin.readline().rstrip("\r\n")
    try:
        known = load_nurses(path) if os.path.exists(path) else {}  # type: ignore[arg-type]
        if name in known:
            raise NursesFileError(f"nurse {name!r} is already in {os.fspath(path)}")
        line = nurse_line(name, pin)
    except NursesFileError as e:
        print(f"monitord station: {e}", file=sys.stderr)
        return EX_DATAERR
    # Created 0600: the hashes must not be readable by every user of the machine.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line)
    print(f"added {name}")
    return EX_OK


def _bind_errno(host: str, port: int) -> int | None:
    """The errno of binding `host`:`port` here, each address it resolves to in turn (the
    first refusal), as the listener does; None when every bind succeeds or it does not
    resolve."""
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return None
    for family, kind, proto, _name, addr in found:
        with socket.socket(family, kind, proto) as s:
            try:
                s.bind(addr)
            except OSError as e:
                return e.errno
    return None


def _listen_problem(e: OSError, host: str, port: int) -> str:
    """Why the listener could not open, and the fix: the socket's own text ("[Errno 98]
    error while attempting to bind on address (...)") said neither in words."""
    code = e.errno
    if code is None:
        # Python 3.13's asyncio says "could not bind on any address out of [...]" with no
        # errno when no interface has the address (3.11 and 3.12 raised EADDRNOTAVAIL):
        # the socket's own answer is asked for instead of matching that text.
        code = _bind_errno(host, port)
    if code == errno.EADDRINUSE:
        return (
            f"the port is in use by another process (ss -ltnp 'sport = :{port}' names it): "
            "stop it, or set station.listen to a free port"
        )
    if code == errno.EADDRNOTAVAIL:
        return (
            "no interface of this machine has that address (ip -brief address lists "
            f"them): set station.listen to one of them, or every address: '[::]:{port}' "
            f"(IPv4 and IPv6; '0.0.0.0:{port}' IPv4 only)"
        )
    if code == errno.EACCES:
        return (
            "a port below 1024 needs a privilege the service does not have: set "
            "station.listen to a port above 1023 (the default is 8080)"
        )
    return f"{e.strerror or e}: check station.listen"


def main(args: argparse.Namespace) -> int:
    # What a SIGHUP means is decided while the terminal, if any, is still there (hangup.py).
    hangup.meaning()
    cfg = load_config(args.config)  # a ConfigError is reported by monitord.cli (exit 78)
    if cfg.station is None:
        raise ConfigError([f"{args.config}: station: missing: add a [station] section"])
    if args.add_nurse:
        return _add_nurse(cfg.station.nurses_file, args.add_nurse)
    errors, warnings = check(cfg, args.config)
    if errors:
        raise ConfigError(errors)
    setup_logging(cfg.log_level)
    for line in warnings:
        logging.getLogger("monitord").warning(line)
    from monitord.station.server import Station

    def _say_url(url: str) -> None:
        # One write, the newline in it: print() writes the text and its end apart, and the
        # log's own thread (monitord/logwriter.py) may write a line between the two when
        # stdout and stderr are one file (`> station.log 2>&1`): "station: URLINFO ...".
        sys.stdout.write(f"station: {url}\n")
        sys.stdout.flush()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        hangup.on_loop(loop, stop.set, "station")
        try:
            await Station(cfg).serve(stop, ready=_say_url)
        finally:
            hangup.to_exit(loop)  # main() is the process's command (monitord.cli)

    try:
        asyncio.run(_main())
    except OSError as e:  # the listen address is taken or not ours
        why = _listen_problem(e, cfg.station.host, cfg.station.port)
        print_error(f"monitord station: cannot listen on {cfg.station.listen}: {why}")
        return EX_CONFIG
    return EX_OK
