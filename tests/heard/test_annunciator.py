"""The local annunciator (issue 16): which pattern for which state, the command path for
real (a script that appends its argument and $MONITORD_ANNUNCIATOR to a file), and the
GPIO path.

GPIO: this kernel offers no gpio-sim (no configfs at /sys/kernel/config), so the GPIO
path runs against a fake chip: an object implementing the part of the gpiod v2 API the
annunciator uses (`request_lines(...)` -> a line request with `set_value(line, Value)` and
`release()`), injected as `gpio_opener`. The real binding's `open_gpio` is checked against
a chip path that does not exist: one clear ERROR line, and the daemon goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from pathlib import Path
from typing import Any

import pytest
from gpiod.line import Value

from monitord.annunciator import Annunciator, Pattern, decide
from monitord.config import AnnunciatorConfig, ConfigError, loads_config
from tests.kit import eventually


def test_patterns_distinguish_high_from_technical() -> None:
    # delivery failing with a high alert active: high; failing alone: technical
    assert decide(failing=True, high_active=True, any_active=True, station_online=True) == "high"
    assert decide(True, False, True, True) == "technical"
    assert decide(True, False, False, True) == "technical"
    # no station online while an alert is active: technical, even if delivery works
    assert decide(False, True, True, False) == "technical"
    assert decide(False, False, False, False) == "off"
    assert decide(False, True, True, True) == "off"
    assert decide(False, True, True, None) == "off"  # no MQTT: nothing to say about stations


class FakeLineRequest:
    """A gpiod v2 LineRequest stand-in recording each level written."""

    def __init__(self) -> None:
        self.levels: list[bool] = []
        self.released = False

    def set_value(self, line: int, value: Any) -> None:
        assert line == 17
        self.levels.append(value == Value.ACTIVE)

    def release(self) -> None:
        self.released = True


def runs(levels: list[bool]) -> list[int]:
    """Lengths of the runs of equal levels, the first and last (partial) ones dropped."""
    out: list[int] = []
    n = 1
    for a, b in itertools.pairwise(levels):
        if a == b:
            n += 1
        else:
            out.append(n)
            n = 1
    return out[1:]


async def test_gpio_blinks_fast_for_high_slow_for_technical_and_holds_off() -> None:
    req = FakeLineRequest()
    opened: list[tuple[str, int]] = []

    def opener(chip: str, line: int) -> tuple[FakeLineRequest, Any, Any]:
        opened.append((chip, line))
        return req, Value.ACTIVE, Value.INACTIVE

    state: list[Pattern] = ["high"]
    ann = Annunciator(
        AnnunciatorConfig(gpio_chip="/dev/gpiochip0", gpio_line=17),
        lambda: state[0],
        gpio_opener=opener,
    )
    task = asyncio.create_task(ann.run())
    try:
        await eventually(lambda: len(req.levels) >= 20, 10, "high ticks")
        high = list(req.levels)
        state[0] = "technical"
        await eventually(lambda: len(req.levels) >= len(high) + 40, 20, "technical ticks")
        technical = req.levels[len(high) :]
        state[0] = "off"
        n = len(req.levels)
        await eventually(lambda: len(req.levels) >= n + 5, 10, "off ticks")
        off = req.levels[n + 1 :]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert opened == [("/dev/gpiochip0", 17)]
    assert set(runs(high)) == {1}, high  # toggles every tick: 4 Hz
    assert set(runs(technical)) == {8}, technical  # 1 s on, 1 s off
    assert not any(off), off
    assert req.released and req.levels[-1] is False  # left inactive on stop


async def test_gpio_chip_that_does_not_exist_is_one_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ann = Annunciator(
        AnnunciatorConfig(gpio_chip="/dev/gpiochip-none", gpio_line=3), lambda: "high"
    )
    caplog.set_level(logging.DEBUG, "monitord.annunciator")
    task = asyncio.create_task(ann.run())
    await eventually(lambda: ann.changes == 1, 5)
    await asyncio.sleep(0.5)  # several ticks, each retrying the open
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "/dev/gpiochip-none line 3" in errors[0].getMessage()
    assert "annunciator.gpio_chip" in errors[0].getMessage()


async def test_command_runs_once_per_change_with_the_pattern(tmp_path: Path) -> None:
    out = tmp_path / "calls"
    script = tmp_path / "buzz.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $MONITORD_ANNUNCIATOR" >> "{out}"\n')
    script.chmod(0o755)
    state: list[Pattern] = ["off"]
    ann = Annunciator(AnnunciatorConfig(command=[str(script)]), lambda: state[0])
    task = asyncio.create_task(ann.run())
    try:
        for p in ("technical", "high", "off"):
            state[0] = p

            def sounded(p: str = p) -> bool:
                return out.exists() and out.read_text().endswith(f"{p} {p}\n")

            await eventually(sounded)
        await asyncio.sleep(0.5)  # unchanged state: no more calls
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert out.read_text().splitlines() == ["technical technical", "high high", "off off"]


def test_annunciator_config_is_checked() -> None:
    base = '[site]\nid = "s"\n[[chairs]]\nid = "chair-1"\n'
    cfg = loads_config(base + '[annunciator]\ncommand = ["/usr/bin/aplay", "tone.wav"]\n')
    assert cfg.annunciator.command == ["/usr/bin/aplay", "tone.wav"]
    with pytest.raises(ConfigError, match="gpio_chip and gpio_line go together"):
        loads_config(base + '[annunciator]\ngpio_chip = "/dev/gpiochip0"\n')
    with pytest.raises(ConfigError, match=r"annunciator\.command"):
        loads_config(base + "[annunciator]\ncommand = []\n")
