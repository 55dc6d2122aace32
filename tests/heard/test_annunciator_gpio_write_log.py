"""A write to the annunciator's GPIO line that fails (the HAT's chip gone: `ENODEV`, a
loose ribbon: `EIO`) was logged as "annunciator GPIO: line write failed: [Errno 19] No
such device": neither which chip and line (the config's gpio_chip/gpio_line) nor that
the clinic's light/buzzer is dark while it lasts, nor what to check; and as the line is
reopened every 5 s, and the reopen said "recovered", the ERROR came again every 5 s for
as long as the line stayed broken. Now it names them, once at ERROR (repeats DEBUG),
and only a write that goes through is a recovery. The line: the gpiod LineRequest stand-in of
test_annunciator_command.py (no GPIO chip in the test machine), failing as the kernel
answers a chip that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging

import pytest

from monitord.annunciator import Annunciator, Pattern
from monitord.config import AnnunciatorConfig
from tests.kit import eventually


class GoneLine:
    def __init__(self) -> None:
        self.writes = 0

    def set_value(self, line: int, value: object) -> None:
        self.writes += 1
        raise OSError(errno.ENODEV, "No such device")

    def release(self) -> None:
        pass


async def test_a_failed_gpio_write_names_the_line_and_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord.annunciator")
    line = GoneLine()
    state: list[Pattern] = ["high"]
    cfg = AnnunciatorConfig(gpio_chip="/dev/gpiochip4", gpio_line=17)
    ann = Annunciator(cfg, lambda: state[0], gpio_opener=lambda c, n: (line, True, False))
    task = asyncio.create_task(ann.run())
    try:
        await eventually(lambda: line.writes >= 2, 15, "written, reopened and written again")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    said = [r for r in caplog.records if "annunciator GPIO" in r.getMessage()]
    loud = [r for r in said if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in said]
    # Reopening is no recovery: before, each reopen said "recovered", and the next
    # failed write was an ERROR again, every 5 s while the line stayed broken.
    assert not any("recovered" in r.getMessage() for r in said), [r.getMessage() for r in said]
    text = loud[0].getMessage()
    assert "/dev/gpiochip4 line 17" in text and "No such device" in text, text
    assert "not driven" in text and "gpioinfo" in text, text


class FlakyLine:
    """Writes that fail while `broken`, then go through (the HAT reseated)."""

    def __init__(self) -> None:
        self.broken = True
        self.writes = 0

    def set_value(self, line: int, value: object) -> None:
        self.writes += 1
        if self.broken:
            raise OSError(errno.EIO, "Input/output error")

    def release(self) -> None:
        pass


async def test_status_fault_is_said_only_while_the_line_is_not_driven() -> None:
    """What `monitord status` shows (Annunciator.faults, tests/heard/
    test_annunciator_gpio_status.py) in each state: nothing before the line is tried,
    the open's failure, the write's failure, and nothing once a write goes through."""
    line = FlakyLine()
    opens: list[bool] = []  # the first open fails (no chip yet), the next ones succeed

    def opener(chip: str, n: int) -> tuple[FlakyLine, bool, bool]:
        opens.append(True)
        if len(opens) == 1:
            raise OSError(errno.ENODEV, "No such device")
        return line, True, False

    state: list[Pattern] = ["high"]
    ann = Annunciator(
        AnnunciatorConfig(gpio_chip="/dev/gpiochip4", gpio_line=17),
        lambda: state[0],
        gpio_opener=opener,
    )
    assert ann.faults() == {}  # configured, not yet tried: nothing claimed
    task = asyncio.create_task(ann.run())
    try:
        await eventually(lambda: len(opens) >= 1, 15, "the first open")
        assert "cannot drive /dev/gpiochip4 line 17" in ann.faults()["annunciator_gpio"]
        await eventually(lambda: line.writes >= 1, 15, "reopened and written")
        assert "writing /dev/gpiochip4 line 17 failed" in ann.faults()["annunciator_gpio"]
        line.broken = False
        ann.poke()
        await eventually(lambda: ann.faults() == {}, 15, "a write went through")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
