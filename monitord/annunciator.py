"""The local annunciator at the chair: a buzzer/LED and/or a command (issue 16).

When alarms may not reach the nurses' station, the chair must say so itself. Patterns:
- `high`: a high-priority alert is active while delivery is failing (a `delivery*`
  technical alarm, monitord/delivery.py): the alarm the station may not be showing.
- `technical`: delivery is failing (broker unreachable, publish refused, alarm not
  received by any station), or no station is online while an alert is active.
- `off`: otherwise.

Outputs (`[annunciator]`, docs/delivery.md):
- `command`: run as `command... PATTERN` with `MONITORD_ANNUNCIATOR=PATTERN` in its
  environment, once per change of pattern (e.g. a script that plays a tone in a loop until
  the next call says `off`). Its failure is logged (FailureLog) and never stops the daemon.
- `gpio_chip` + `gpio_line`: an output line through libgpiod's v2 Python binding (`gpiod`,
  optional extra `gpio`): `high` blinks fast (4 Hz), `technical` slow (0.5 Hz, 1 s on), `off`
  holds it inactive. Distinguishable by ear and eye, as IEC 60601-1-8 wants.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from monitord.aio import Doze
from monitord.config import AnnunciatorConfig
from monitord.log import FailureLog

log = logging.getLogger("monitord.annunciator")

Pattern = Literal["off", "technical", "high"]
TICK_S = 0.125
# How often an annunciator that is not blinking looks at the state unasked: a backstop
# only, every change is poked at once (`Annunciator.poke`).
LOOK_S = 5.0
# Line level per tick in one cycle of each pattern (tick = 125 ms).
_CYCLES: dict[str, tuple[bool, ...]] = {
    "off": (False,),
    "high": (True, False),  # 250 ms period: 4 Hz
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
        self._procs: list[asyncio.subprocess.Process] = []
        self._poked = False
        self._doze = Doze()
        self.turns = 0  # times the task looked at the state (tests)

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
        try:
            while True:
                self._poked = False
                self.turns += 1
                pattern = self.state()
                changed = pattern != self.pattern
                if changed:
                    self.pattern = pattern
                    self.changes += 1
                    log.info("annunciator: %s", pattern)
                    await self._command(pattern)
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
                    wait = next_tick - loop.time() if blinking and gpio is not None else LOOK_S
                else:
                    wait = LOOK_S
                if not self._poked:  # (poked while the command started: look again)
                    await self._doze(wait)
        finally:
            if gpio is not None:
                self._release(gpio)
            for p in self._procs:
                await _reap(p)

    # -- GPIO ----------------------------------------------------------------------------
    def _open(self) -> tuple[GpioLine, Any, Any] | None:
        assert self.cfg.gpio_chip is not None and self.cfg.gpio_line is not None
        try:
            out = self.gpio_opener(self.cfg.gpio_chip, self.cfg.gpio_line)
        except Exception as e:  # ImportError (no gpiod), OSError (no chip, busy line) ...
            self._gpio_log.failure(
                type(e).__name__,
                f"cannot drive {self.cfg.gpio_chip} line {self.cfg.gpio_line}: {e}; "
                "install monitord[gpio] and check annunciator.gpio_chip/gpio_line "
                "(gpioinfo) and that the service user is in group gpio",
                logging.ERROR,
            )
            return None
        self._gpio_log.success()
        return out

    def _set(self, gpio: tuple[GpioLine, Any, Any], pattern: Pattern, tick: int) -> bool:
        req, active, inactive = gpio
        cycle = _CYCLES[pattern]
        assert self.cfg.gpio_line is not None
        try:
            req.set_value(self.cfg.gpio_line, active if cycle[tick % len(cycle)] else inactive)
        except Exception as e:
            self._gpio_log.failure(type(e).__name__, f"line write failed: {e}", logging.ERROR)
            self._release(gpio)
            return False
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
    async def _command(self, pattern: Pattern) -> None:
        if self.cfg.command is None:
            return
        self._procs = [p for p in self._procs if p.returncode is None]
        argv = [*self.cfg.command, pattern]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, "MONITORD_ANNUNCIATOR": pattern},
            )
        except OSError as e:
            self._cmd_log.failure(
                "exec",
                f"cannot run {argv[0]!r}: {e.strerror or e}; check annunciator.command",
                logging.ERROR,
            )
            return
        self._cmd_log.success()
        self._procs.append(proc)


async def _reap(p: asyncio.subprocess.Process) -> None:
    if p.returncode is None:
        try:
            await asyncio.wait_for(p.wait(), 2.0)
        except TimeoutError:
            p.kill()
            await p.wait()


def high_active(actives: Iterable[Iterable[dict[str, Any]]]) -> bool:
    return any(a.get("priority") == "high" for alerts in actives for a in alerts)
