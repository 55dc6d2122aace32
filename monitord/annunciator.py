"""The local annunciator at the chair: a buzzer/LED and/or a command (issue 16).

When alarms may not reach the nurses' station, the chair must say so itself. Patterns:
- `high`: a high-priority alert is active while delivery is failing (a `delivery*`
  technical alarm, monitord/delivery.py): the alarm the station may not be showing.
- `technical`: delivery is failing (broker unreachable, publish refused, alarm not
  received by any station), or no station is online while an alert is active.
- `off`: otherwise.

Outputs (`[annunciator]`, docs/delivery.md):
- `command`: run as `command... PATTERN` with `MONITORD_ANNUNCIATOR=PATTERN` in its
  environment, once per change of pattern, one process at a time in its own process group
  (e.g. a script that plays a tone in a loop until it is ended). Before the next pattern's
  command starts, the previous one (if it still runs) gets SETTLE_S from its start to end
  by itself, then SIGTERM to its group, SIGKILL after GRACE_S. On stop the running command
  is ended the same way and `off` is run. Its failure is logged (FailureLog) and never
  stops the daemon.
- `gpio_chip` + `gpio_line`: an output line through libgpiod's v2 Python binding (`gpiod`,
  optional extra `gpio`): `high` blinks fast (2 Hz), `technical` slow (0.5 Hz, 1 s on), `off`
  holds it inactive. Distinguishable by ear and eye, as IEC 60601-1-8 wants (its visual
  alarm signals: high priority 1.4-2.8 Hz, medium 0.4-0.8 Hz, 20-60 % on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from monitord.aio import Doze, within
from monitord.config import AnnunciatorConfig
from monitord.log import FailureLog

log = logging.getLogger("monitord.annunciator")

Pattern = Literal["off", "technical", "high"]
TICK_S = 0.125
# How often an annunciator that is not blinking looks at the state unasked: a backstop
# only, every change is poked at once (`Annunciator.poke`).
LOOK_S = 5.0
# The command's process is ended before the next pattern's starts: an old `high` tone must
# not go on after `off`, nor two sound at once. A quick script (gpioset, amixer) may first
# end by itself within SETTLE_S of its start, so a burst of changes does not cut it short;
# then SIGTERM to its process group, SIGKILL after GRACE_S. So a change of pattern reaches
# the command at most SETTLE_S + GRACE_S (2 s) late: a command started just before that
# ignores SIGTERM; a loop that ends on SIGTERM costs at most SETTLE_S (1 s). The command is
# run by its own task beside the loop (`_commands`): the GPIO line goes on blinking
# meanwhile (a `high` held steady for 2 s would read as `technical`'s 1-s on, or as off).
# Kept short: the pattern is an alarm.
SETTLE_S = 1.0
GRACE_S = 1.0
# A line of the command's output longer than asyncio's 64 KiB limit is logged in pieces.
OUTPUT_CHUNK = 65536
# Line level per tick in one cycle of each pattern (tick = 125 ms).
_CYCLES: dict[str, tuple[bool, ...]] = {
    "off": (False,),
    # 500 ms period: 2 Hz, 50 % on (it was 4 Hz: above IEC 60601-1-8's 2.8 Hz for high,
    # as the station's tiles flash: docs/station.md)
    "high": (True, True, False, False),
    "technical": (True,) * 8 + (False,) * 8,  # 1 s on, 1 s off
}


def decide(
    failing: bool, high_active: bool, any_active: bool, station_online: bool | None
) -> Pattern:
    """The pattern for the chair's state. `station_online` None: not known (no MQTT)."""
    if failing and high_active:
        return "high"
    if failing or (any_active and station_online is False):
        return "technical"
    return "off"


def _hold(pattern: Pattern, tick: int) -> int:
    """Ticks from `tick` until the pattern's level next changes (the whole cycle if never)."""
    cycle = _CYCLES[pattern]
    level = cycle[tick % len(cycle)]
    n = 1
    while n < len(cycle) and cycle[(tick + n) % len(cycle)] == level:
        n += 1
    return n


class GpioLine(Protocol):
    """The part of a gpiod v2 `LineRequest` the annunciator uses."""

    def set_value(self, line: int, value: Any) -> None: ...

    def release(self) -> None: ...


def open_gpio(chip: str, line: int) -> tuple[GpioLine, Any, Any]:
    """(request, ACTIVE, INACTIVE) for `line` of `chip` as an output, initially inactive."""
    import gpiod
    from gpiod.line import Direction, Value

    req = gpiod.request_lines(
        chip,
        consumer="monitord-annunciator",
        config={line: gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)},
    )
    return req, Value.ACTIVE, Value.INACTIVE


class Annunciator:
    def __init__(
        self,
        cfg: AnnunciatorConfig,
        state: Callable[[], Pattern],
        *,
        gpio_opener: Callable[[str, int], tuple[GpioLine, Any, Any]] = open_gpio,
    ) -> None:
        self.cfg = cfg
        self.state = state
        self.gpio_opener = gpio_opener
        self.pattern: Pattern = "off"
        self.changes = 0
        self._cmd_log = FailureLog(log, "annunciator command")
        self._gpio_log = FailureLog(log, "annunciator GPIO")
        # Why the GPIO line is not driven now, for `monitord status`: its pattern alone read
        # as the buzzer sounding while the line had never opened (the journal's one ERROR).
        self.gpio_fault: str | None = None
        self.command_fault: str | None = None  # likewise its command, which would not start
        # ... or which started and failed (exit status not 0, not ended by us): a script's
        # `gpioset` or `aplay` not installed was an INFO line of its output, status read
        # `annunciator=high` and nothing sounded. Cleared when a run ends well.
        self.exit_fault: str | None = None
        self._exit_log = FailureLog(log, "annunciator command")
        self._ended: set[int] = set()  # pids of the commands `_end` signalled
        # A command that had to be killed: the script's fault, said once per run of the
        # daemon (not reset by the next start, which succeeds every time).
        self._kill_log = FailureLog(log, "annunciator command")
        self._proc: asyncio.subprocess.Process | None = None  # the running command
        self._readers: set[asyncio.Future[None]] = set()  # the commands' output, logged
        self._started = 0.0  # loop time the running command started
        self._running: Pattern = "off"  # the pattern the last command started with
        self._want: Pattern = "off"  # the pattern the command is to be run with
        self.ran: Pattern = "off"  # the pattern the command was last tried with
        self._cmd_doze = Doze()  # the command's task waits for the next change on it
        self._poked = False
        self._doze = Doze()
        self.turns = 0  # times the task looked at the state (tests)

    def faults(self) -> dict[str, str]:
        """What of it does not sound now, for `monitord status` (daemon.delivery_status)."""
        said = {
            "annunciator_gpio": self.gpio_fault,
            "annunciator_command": self.command_fault or self.exit_fault,
        }
        return {k: v for k, v in said.items() if v}

    @property
    def configured(self) -> bool:
        return self.cfg.command is not None or self.cfg.gpio_chip is not None

    def poke(self) -> None:
        """What the pattern depends on may have changed (an alert, a technical alarm, a
        station's status): look now. On the loop."""
        self._poked = True
        self._doze.rouse()

    async def run(self) -> None:
        # Woken by `poke`, by the next blink while a GPIO line blinks, else once every
        # LOOK_S (a missed poke). It looked every tick before: 8 wakes a second, +0.27 % of
        # a core for a 1-chair daemon in the CPU bench, over half a chair's 0.5 % budget
        # (issue 20, bench/results.md).
        gpio: tuple[GpioLine, Any, Any] | None = None
        tick = 0  # position in the pattern's cycle
        hold = 1  # ticks the level written at `tick` lasts
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        # Beside the loop: ending the previous command takes up to SETTLE_S + GRACE_S, and
        # the line's blink must not freeze meanwhile (it did: a `high` held on for 2 s).
        commands = asyncio.create_task(self._commands()) if self.cfg.command else None
        try:
            while True:
                if commands is not None and commands.done():
                    commands.result()  # it crashed: so does this task (the supervisor)
                self._poked = False
                self.turns += 1
                pattern = self.state()
                changed = pattern != self.pattern
                if changed:
                    self.pattern = pattern
                    self.changes += 1
                    log.info("annunciator: %s", pattern)
                blinking = False
                if self.cfg.gpio_chip is not None and self.cfg.gpio_line is not None:
                    now = loop.time()
                    blinking = len(_CYCLES[pattern]) > 1
                    ticked = blinking and now >= next_tick
                    if changed or ticked:
                        tick = 0 if changed else tick + hold
                        # Woken at the level's next edge, not every tick: `technical`
                        # holds each level 8 ticks (1 wake a second, not 8).
                        hold = _hold(pattern, tick)
                        next_tick = now + hold * TICK_S
                    opened = gpio is None
                    gpio = gpio or self._open()
                    # A blink writes each edge; a steady level (`off`) once.
                    write = changed or ticked or opened
                    if gpio is not None and write and not self._set(gpio, pattern, tick):
                        gpio = None
                    blinking = blinking and gpio is not None
                if changed and commands is not None:
                    self._want = pattern
                    self._cmd_doze.rouse()
                wait = next_tick - loop.time() if blinking else LOOK_S
                if not self._poked:
                    await self._doze(wait)
        finally:
            if gpio is not None:
                self._release(gpio)
            if commands is not None:
                # Cancelled part-way through ending a command, it kills its group (`_end`).
                commands.cancel()
                await asyncio.wait({commands})
                await self._quiet()

    # -- GPIO ----------------------------------------------------------------------------
    def _open(self) -> tuple[GpioLine, Any, Any] | None:
        assert self.cfg.gpio_chip is not None and self.cfg.gpio_line is not None
        try:
            out = self.gpio_opener(self.cfg.gpio_chip, self.cfg.gpio_line)
        except Exception as e:  # ImportError (no gpiod), OSError (no chip, busy line) ...
            self.gpio_fault = (
                f"cannot drive {self.cfg.gpio_chip} line {self.cfg.gpio_line}: {e}; "
                "install monitord[gpio] and check annunciator.gpio_chip/gpio_line "
                "(gpioinfo) and that the service user is in group gpio; `sudo monitord "
                "doctor` checks the chip as the service meets it"
            )
            self._gpio_log.failure(type(e).__name__, self.gpio_fault, logging.ERROR)
            return None
        # Not `success()` here: an open is no recovery until a write goes through. Said
        # here, a line whose writes fail logged ERROR, then "recovered", every LOOK_S.
        return out

    def _set(self, gpio: tuple[GpioLine, Any, Any], pattern: Pattern, tick: int) -> bool:
        req, active, inactive = gpio
        cycle = _CYCLES[pattern]
        assert self.cfg.gpio_line is not None
        try:
            req.set_value(self.cfg.gpio_line, active if cycle[tick % len(cycle)] else inactive)
        except Exception as e:
            self.gpio_fault = (
                f"writing {self.cfg.gpio_chip} line {self.cfg.gpio_line} failed: {e}; the "
                "light/buzzer on it is not driven while this lasts (reopened and retried "
                f"every {LOOK_S:g} s): check the HAT or wiring, and annunciator.gpio_chip/"
                "gpio_line (gpioinfo)"
            )
            # Not an open's failure: said on its own.
            self._gpio_log.failure(f"write {type(e).__name__}", self.gpio_fault, logging.ERROR)
            self._release(gpio)
            return False
        self._gpio_log.success()
        self.gpio_fault = None
        return True

    def _release(self, gpio: tuple[GpioLine, Any, Any]) -> None:
        req, _active, inactive = gpio
        try:
            assert self.cfg.gpio_line is not None
            req.set_value(self.cfg.gpio_line, inactive)
            req.release()
        except Exception as e:
            log.debug("annunciator GPIO release: %s", e)

    # -- command -------------------------------------------------------------------------
    async def _commands(self) -> None:
        """Run the command with each pattern the loop wants, one process at a time. A
        pattern superseded while the previous command was being ended is skipped: the
        latest is run (docs/delivery.md)."""
        while True:
            if self._want == self.ran:  # (checked after each run: no change is missed)
                await self._cmd_doze(3600.0)  # roused by the loop at each change
                continue
            await self._end(self._started + SETTLE_S)
            self.ran = self._want  # tried once per change, started or not (no retry loop)
            await self._start(self.ran)

    async def _quiet(self) -> None:
        """On stop (the task cancelled, or crashed before a restart): end the running
        command, then run `off` if the last command started was not `off`, so a
        script-driven buzzer goes quiet as the GPIO line does (the last pattern is not
        enough: a stop while `off` waited for `high` to end never ran `off`). At most 2 s:
        GRACE_S to end a tone loop, then GRACE_S for `off` (or SETTLE_S + GRACE_S for a
        last `off` still running); a second cancellation kills at once (`_end`). (The
        daemon exits within 5 s of SIGTERM.)"""
        if self.cfg.command is None:
            return
        # (a restart after a crash runs the command again)
        self.pattern = self._want = self.ran = "off"
        if self._running == "off":  # a quick `off` may still run: left its settle time
            await self._end(self._started + SETTLE_S)
            return
        await self._end(0.0)  # a tone loop: `off` follows at once
        if await self._start("off"):
            await self._end(self._started + GRACE_S, term=False)

    async def _start(self, pattern: Pattern) -> bool:
        argv = [*(self.cfg.command or ()), pattern]
        try:
            # Its own session and process group: a script's children (aplay, sox ...) are
            # ended with it (`_end`). So Ctrl-C in a terminal no longer reaches it; the
            # daemon ends it on its stop.
            # Its output read here and logged (`_say_output`), not the daemon's stdout and
            # stderr inherited: the journal's stream, which a hung journald does not read;
            # a script's first line there (aplay's "Playing WAVE ...") held the tone up.
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "MONITORD_ANNUNCIATOR": pattern},
                start_new_session=True,
            )
        except OSError as e:
            self.command_fault = (
                f"cannot run {argv[0]!r}: {e.strerror or e}; check annunciator.command"
            )
            self._cmd_log.failure("exec", self.command_fault, logging.ERROR)
            return False
        self._cmd_log.success()
        self.command_fault = None
        said: list[str] = []  # its last line of output, for the failure's words
        reader: asyncio.Future[None] | None = None
        if proc.stdout is not None:
            reader = asyncio.ensure_future(_say_output(proc.stdout, pattern, said))
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
        watch = asyncio.ensure_future(self._watch_exit(proc, pattern, reader, said))
        self._readers.add(watch)
        watch.add_done_callback(self._readers.discard)
        self._proc, self._started = proc, asyncio.get_running_loop().time()
        self._running = pattern
        return True

    async def _watch_exit(
        self,
        proc: asyncio.subprocess.Process,
        pattern: Pattern,
        reader: asyncio.Future[None] | None,
        said: list[str],
    ) -> None:
        """How the command ended: one that failed by itself (exit status not 0, or a
        signal not ours) is an ERROR and said in `monitord status` until a run ends well
        (exit 0, or still running when ended for the next pattern)."""
        rc = await proc.wait()
        ours = proc.pid in self._ended
        self._ended.discard(proc.pid)
        if ours or rc == 0:
            self.exit_fault = None
            self._exit_log.success()
            return
        if reader is not None:  # its last words, unless a child it left holds the pipe
            await asyncio.wait({reader}, timeout=0.5)
        argv0 = (self.cfg.command or ["?"])[0]
        how = f"exited with status {rc}" if rc > 0 else f"was killed by signal {-rc}"
        self.exit_fault = (
            f"{argv0!r} {pattern} {how}"
            + (f": {said[-1]}" if said else "")
            + f"; run it as the service does (sudo -u monitord {argv0} {pattern}) and "
            "install what it needs; check annunciator.command"
        )
        self._exit_log.failure(("exit", rc), self.exit_fault, logging.ERROR)

    async def _end(self, settle_until: float, *, term: bool = True) -> None:
        """End the running command and its process group, if it runs: wait until
        `settle_until` (loop time) for it to end by itself, then SIGTERM to the group and
        GRACE_S, then SIGKILL (`term` False: SIGKILL at once). A cancellation meanwhile
        kills the group at once and propagates."""
        proc = self._proc
        if proc is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if proc.returncode is None and settle_until > loop.time():
                with contextlib.suppress(TimeoutError):
                    await within(proc.wait(), settle_until - loop.time())
            if proc.returncode is None:
                self._ended.add(proc.pid)  # not its own failure (`_watch_exit`)
            if proc.returncode is None and term:
                _signal(proc, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await within(proc.wait(), GRACE_S)
                if proc.returncode is not None:
                    # A child that outlived its script's SIGTERM (it ignores it) goes too.
                    _signal(proc, signal.SIGKILL, leader_gone_ok=True)
            if proc.returncode is None:
                _signal(proc, signal.SIGKILL)
                await proc.wait()
                self._kill_log.failure(
                    "kill" if term else "stop",
                    f"{(self.cfg.command or ['?'])[0]!r} {self._running} did not end "
                    + (
                        f"on SIGTERM within {GRACE_S:g} s and was killed; make the script "
                        "exit on SIGTERM (with the player it runs)"
                        if term
                        else f"within {GRACE_S:g} s of the stop and was killed; make it "
                        "return at once for `off`"
                    ),
                )
        except BaseException:
            if proc.returncode is None:
                self._ended.add(proc.pid)
            _signal(proc, signal.SIGKILL)  # cancelled (a stop): nothing may sound on
            raise
        finally:
            if proc.returncode is not None and self._proc is proc:
                self._proc = None


async def _say_output(out: asyncio.StreamReader, pattern: Pattern, said: list[str]) -> None:
    """The command's output (stdout and stderr, one pipe), one INFO line each, through the
    log's queue: where the script's lines went before, the journal, without ever holding
    the script up. Read to its end (the command and whatever it left holding the pipe).
    `said` keeps the last line (the words of a failure)."""
    while True:
        try:
            line = await out.readline()
        except ValueError:  # a line longer than the reader's limit: what is there of it
            line = await out.read(OUTPUT_CHUNK)
        if not line:
            return
        text = line.decode(errors="backslashreplace").rstrip("\r\n")
        log.info("annunciator command (%s): %s", pattern, text)
        if text.strip():
            said[:] = [text[:500]]


def _signal(
    proc: asyncio.subprocess.Process, sig: signal.Signals, *, leader_gone_ok: bool = False
) -> None:
    """`sig` to the process group `proc` leads (`start_new_session`: its pid is the
    group's id). Once `proc` has been reaped only right after, for the group's leftovers
    (`leader_gone_ok`): the id is not handed out again while the group has members, and
    with none left it is not handed out again that soon (the pid space wraps first)."""
    if proc.returncode is not None and not leader_gone_ok:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def high_active(actives: Iterable[Iterable[dict[str, Any]]]) -> bool:
    return any(a.get("priority") == "high" for alerts in actives for a in alerts)
