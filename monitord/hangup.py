"""What SIGHUP means to a long-running command (`run`, `station`, `capture`).

Python's default for SIGHUP is to die at once: no clean stop (the store's last commit, its
clean-stop row and `offline` status unwritten), and systemd's `Restart=on-failure` does not
restart a unit ended by SIGHUP (systemd.service(5), "Restart=": SIGHUP, SIGINT, SIGTERM
and SIGPIPE count as a clean exit). One `kill -HUP`, an admin's reflex after editing
/etc/monitord/*.toml, ended monitoring for good, with nothing in the journal.

The signal has two meanings, told apart by where the process runs:

- with a controlling terminal (a foreground run in an SSH session): the kernel sends it
  when that terminal goes (the session closes); the usual meaning is "stop", so it stops
  as SIGTERM does, cleanly;
- without one (the systemd units, any service manager): only a person or a program sends
  it, meaning "reload the config". monitord reads its config only at start: it says so at
  WARNING, with how to apply an edit, and monitoring goes on. A SIGHUP sent again and again
  (a logrotate `postrotate`, a config-management run every few minutes) is said at WARNING
  once an hour at most, at DEBUG in between (`Repeats`): not a line a minute for months.

Whether there is a controlling terminal is decided once, at start: once the terminal is
gone, /dev/tty can no longer be opened. A SIGHUP ignored at start (`nohup monitord run`)
stays ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("monitord")

# Per command (the shipped units' names): what goes on, and how an admin applies an edit
# (None: the command reads no config, `monitord demo` plays its embedded defaults: neither
# check-config nor a unit to restart is its advice).
APPLY: dict[str, tuple[str, str | None]] = {
    "run": ("monitoring goes on", "monitord check-config, then systemctl restart monitord"),
    "station": (
        "the station goes on serving",
        "monitord check-config -c /etc/monitord/station.toml, "
        "then systemctl restart monitord-station",
    ),
    "demo": ("the demo goes on", None),
}

HUNG_UP = "SIGHUP: the terminal closed: stopping"

_meaning: str | None = None  # "stop", "reload" or "ignored", fixed by the first look


def _has_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def meaning() -> str:
    """ "stop" (a terminal's hangup), "reload" (sent by hand, no terminal) or "ignored"
    (ignored when the process started, as `nohup` does); decided at the first call."""
    global _meaning
    if _meaning is None:
        if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
            _meaning = "ignored"
        else:
            _meaning = "stop" if _has_terminal() else "reload"
    return _meaning


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop the command cleanly: SIGTERM, SIGINT, and SIGHUP when it
    means the terminal went."""
    base = (signal.SIGTERM, signal.SIGINT)
    return (*base, signal.SIGHUP) if meaning() == "stop" else base


def reload_warning(command: str) -> str:
    goes_on, apply = APPLY[command]
    if apply is None:
        return f"SIGHUP: nothing reloaded, {goes_on}: monitord {command} reads no config"
    return (
        f"SIGHUP: nothing reloaded, {goes_on}: monitord {command} reads its config only at "
        f"start; to apply an edit: {apply}"
    )


# A WARNING said again after this long (the house style: once at WARNING, DEBUG on repeats,
# said again after an hour), counting the ones said at DEBUG in between.
SAY_AGAIN_AFTER_S = 3600.0


class Repeats:
    """Says the SIGHUP warning at WARNING the first time and again once `SAY_AGAIN_AFTER_S`
    have gone by since it was; at DEBUG in between. `now`: a monotonic clock (this is not
    alert logic: no event time to go by)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.warned_at: float | None = None
        self.since = 0  # said at DEBUG since the last WARNING

    def say(self, command: str) -> None:
        t = self.now()
        if self.warned_at is None or t - self.warned_at >= SAY_AGAIN_AFTER_S:
            more = f" ({self.since} more since it was last said)" if self.since else ""
            log.warning(reload_warning(command) + more)
            self.warned_at, self.since = t, 0
        else:
            self.since += 1
            log.debug(
                "SIGHUP again: nothing reloaded (said at WARNING %.0f s ago; again after an hour)",
                t - self.warned_at,
            )


_repeats = Repeats()


def early_reload(asked: list[int]) -> None:
    """Before the event loop runs: a SIGHUP meaning "reload" is kept in `asked` (the
    loop's handler says it once logging is set up) instead of killing the process."""
    if meaning() == "reload":
        signal.signal(signal.SIGHUP, lambda signum, _frame: asked.append(signum))


def on_loop(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None], command: str
) -> list[signal.Signals]:
    """The event loop's handlers: the stop signals call `stop`; a SIGHUP meaning "reload"
    logs `reload_warning` and nothing else. Returns the signals handled."""
    handled: list[signal.Signals] = []
    for sig in stop_signals():
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            if sig == signal.SIGHUP:  # said, for an output kept in a file (`2>>run.log`)
                loop.add_signal_handler(sig, _hung_up, stop)
            else:
                loop.add_signal_handler(sig, stop)
            handled.append(sig)
    if meaning() == "reload":
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, _warn, command)
            handled.append(signal.SIGHUP)
    return handled


def _hung_up(stop: Callable[[], None]) -> None:
    log.info(HUNG_UP)
    stop()


def _warn(command: str) -> None:
    _repeats.say(command)


def say_reload(command: str) -> None:
    """A SIGHUP meaning "reload" that came before the loop handled it (run's start)."""
    _repeats.say(command)


def quiet(loop: asyncio.AbstractEventLoop) -> None:
    """The clean stop is under way: SIGTERM, SIGINT and SIGHUP have nothing left to ask. The
    loop's handlers change nothing from now on (a SIGHUP said "stopping" a second time, or
    "monitoring goes on" while it stopped); the loop restores the defaults as it closes,
    so a caller in the same process (a test) finds them as they were."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if sig == signal.SIGHUP and meaning() == "ignored":
            continue  # `nohup`: stays ignored
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _nothing)


def _nothing() -> None:
    pass


def to_exit(loop: asyncio.AbstractEventLoop) -> None:
    """For a command's process only (its top coroutine, its loop still running), once its
    work is done: SIGTERM, SIGINT and SIGHUP ignored to the process's exit. The loop's
    handlers are reset to the default's death when it closes: a SIGHUP then (the terminal
    closed during a Ctrl-C's stop, a logrotate's during `systemctl stop`) ended a stop done
    cleanly by the signal, not exit 0, and one between the loop closing its wakeup pipe and
    removing them wrote a traceback ("Exception ignored when trying to write to the signal
    wakeup fd"). Not for a caller that goes on in the same process: ignored signals are
    inherited by the processes it starts."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            signal.signal(sig, signal.SIG_IGN)
            loop.remove_signal_handler(sig)  # resets it: ignored again at once, below
            signal.signal(sig, signal.SIG_IGN)
