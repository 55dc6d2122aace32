"""The annunciator's `command`, one process at a time (docs/delivery.md): real shell scripts
in tmp_path, real processes, found in /proc by their path.

A command that does not return (a tone in a loop, the simplest script) got a new process
at every change while the old one went on: an old `high` tone sounded after `off`, and on
stop the players survived. Now the previous command's process group is ended (SIGTERM,
SIGKILL after a grace) before the next pattern's command starts, a quick script is left
its settle time, and on stop the running command is ended and `off` is run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from monitord import annunciator
from monitord.annunciator import Annunciator, Pattern
from monitord.config import AnnunciatorConfig
from tests.kit import eventually

# A tone in a loop, played by a child (the `aplay` of a real script); `off` returns at once.
LOOP = """#!/bin/sh
{trap}echo "$1" >> "{dir}/calls"
[ "$1" = off ] && exit 0
"{dir}/player.sh" "$1"
"""
PLAYER = "#!/bin/sh\nwhile :; do sleep 0.05; done\n"


# Bits of SIGKILL and SIGTERM in /proc/PID/status signal masks (bit N-1 for signal N).
_FATAL = {"kill": 1 << (signal.SIGKILL - 1), "term": 1 << (signal.SIGTERM - 1)}


def processes(marker: str) -> list[tuple[int, str, str]]:
    """(process group, script name, pattern) of each live process running a script under
    `marker`. A process already sent its end (a SIGKILL or an unignored SIGTERM pending,
    not yet run to act on it) is not counted: on a busy machine that lasts a moment after
    the annunciator moved on."""
    out: list[tuple[int, str, str]] = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status = dict(
                ln.split(":\t", 1) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
            )
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):  # gone meanwhile
            continue
        pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
        ignored = int(status["SigIgn"], 16)
        if pending & (_FATAL["kill"] | _FATAL["term"] & ~ignored):
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        # `/bin/sh /tmp/.../loop.sh high`; a zombie has no command line
        for i, a in enumerate(args[:-1]):
            if a.startswith(marker):
                pgrp = int(stat.rpartition(")")[2].split()[2])
                out.append((pgrp, Path(a).name, args[i + 1]))
                break
    return sorted(out)


def alive(marker: str) -> list[tuple[str, str]]:
    """(script name, pattern) of each live process running a script under `marker`."""
    return sorted({(name, pattern) for _, name, pattern in processes(marker)})


@pytest.fixture
def scripts(tmp_path: Path) -> Iterator[Path]:
    """tmp_path with `player.sh`; whatever runs from it is killed afterwards (a test failing
    on the old code left its loops running)."""
    player = tmp_path / "player.sh"
    player.write_text(PLAYER)
    player.chmod(0o755)
    yield tmp_path
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if str(tmp_path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)


def loop_script(tmp: Path, *, ignore_term: bool = False) -> Path:
    script = tmp / "loop.sh"
    trap = "trap '' TERM\n" if ignore_term else ""
    script.write_text(LOOP.format(dir=tmp, trap=trap))
    script.chmod(0o755)
    return script


def calls(tmp: Path) -> list[str]:
    out = tmp / "calls"
    return out.read_text().split() if out.exists() else []


@contextlib.asynccontextmanager
async def annunciating(script: Path, state: list[Pattern]) -> AsyncIterator[Annunciator]:
    ann = Annunciator(AnnunciatorConfig(command=[str(script)]), lambda: state[0])
    task = asyncio.create_task(ann.run())
    try:
        yield ann
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def change(ann: Annunciator, state: list[Pattern], pattern: Pattern) -> None:
    """Set the pattern and wait until its command was run (the loop takes a change at
    once; the command, beside it, once the previous one ended)."""
    n = ann.changes
    state[0] = pattern
    ann.poke()
    await eventually(lambda: ann.changes > n, 10, f"the change to {pattern}")
    await eventually(lambda: ann.ran == pattern, 10, f"the command run with {pattern}")


async def playing(marker: str, pattern: Pattern) -> None:
    """Wait until the loop script plays `pattern` (it and its player run), and nothing else."""
    pair = [("loop.sh", pattern), ("player.sh", pattern)]
    await eventually(lambda: alive(marker) == pair, 10, f"{pattern} playing")


@pytest.fixture
def quick_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter settle and grace: these tests are about which process runs, not how long."""
    monkeypatch.setattr(annunciator, "SETTLE_S", 0.2)
    monkeypatch.setattr(annunciator, "GRACE_S", 0.5)


@pytest.mark.usefixtures("quick_grace")
async def test_a_looping_command_runs_one_process_at_a_time(scripts: Path) -> None:
    marker = str(scripts)
    seen: list[list[tuple[int, str, str]]] = []

    async def watch() -> None:  # what runs, at every moment of the test
        while True:
            seen.append(processes(marker))
            await asyncio.sleep(0.01)

    state: list[Pattern] = ["off"]
    watcher = asyncio.create_task(watch())
    try:
        async with annunciating(loop_script(scripts), state) as ann:
            for p in ("high", "technical"):
                await change(ann, state, p)
                await playing(marker, p)
            await change(ann, state, "off")
            await eventually(lambda: calls(scripts)[-1:] == ["off"], 10, "off run")
            await eventually(lambda: alive(marker) == [], 10, "nothing playing after off")
            # ... and the annunciator has taken it as started: a stop while `off` is still
            # being spawned (asyncio connecting its output pipe, slow on a loaded machine)
            # runs `off` again, rightly (the first may have been killed unfinished), which
            # this test's exact list would read as an extra call.
            await eventually(lambda: ann._running == "off", 10, "off taken as started")
    finally:
        watcher.cancel()
    # One command (one process group, one pattern) at each moment: two tones at once
    # before, the old one going on.
    overlaps = [s for s in seen if len({g for g, _, _ in s}) > 1 or len({p for *_, p in s}) > 1]
    assert overlaps == [], overlaps[:3]
    assert any(s for s in seen)
    assert calls(scripts) == ["high", "technical", "off"]


@pytest.mark.usefixtures("quick_grace")
async def test_a_command_that_ignores_sigterm_is_killed_and_said_once(
    scripts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "monitord.annunciator")
    marker = str(scripts)
    state: list[Pattern] = ["off"]
    async with annunciating(loop_script(scripts, ignore_term=True), state) as ann:
        for p in ("high", "technical"):
            await change(ann, state, p)
            await playing(marker, p)
        await change(ann, state, "off")
        await eventually(lambda: calls(scripts)[-1:] == ["off"], 10, "off run")
        await eventually(lambda: alive(marker) == [], 10, "nothing playing after off")
        # Taken as started (as in the test above): a stop while `off` is still being
        # spawned runs it again, rightly; the exact list below read that as an extra call
        # (CI 2026-12-05, the CPU at 100 %).
        await eventually(lambda: ann._running == "off", 10, "off taken as started")
    said = [r for r in caplog.records if "SIGTERM" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.DEBUG], said  # 2 kills
    assert "make the script exit on SIGTERM" in said[0].getMessage()
    assert calls(scripts) == ["high", "technical", "off"]


async def test_a_quick_command_sees_every_pattern_of_a_burst_in_order(scripts: Path) -> None:
    """A script that sets the buzzer and returns (here: slower for `high`, as an `amixer`
    then `gpioset` can be) is not cut short by the next change, and its calls do not
    overtake each other: before, `off` ran alongside `high` and finished first, leaving
    the buzzer on. The real settle time (SETTLE_S) here."""
    script = scripts / "quick.sh"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in high) sleep 0.4;; technical) sleep 0.2;; esac\n'
        f'echo "$1" >> "{scripts}/calls"\n'
    )
    script.chmod(0o755)
    state: list[Pattern] = ["off"]
    async with annunciating(script, state) as ann:
        for p in ("high", "technical", "off"):
            await change(ann, state, p)  # the next change comes while this one runs
        await eventually(lambda: len(calls(scripts)) == 3, 10, "three calls")
        await asyncio.sleep(0.5)  # nothing more comes
    assert calls(scripts) == ["high", "technical", "off"]


@pytest.mark.usefixtures("quick_grace")
async def test_a_stop_ends_the_running_command_and_runs_off(scripts: Path) -> None:
    marker = str(scripts)
    state: list[Pattern] = ["high"]
    ann = Annunciator(AnnunciatorConfig(command=[str(loop_script(scripts))]), lambda: state[0])
    task = asyncio.create_task(ann.run())
    try:
        await playing(marker, "high")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):  # the stop is not swallowed
            await task
    assert calls(scripts) == ["high", "off"]  # `off` ran, and returned, before the end
    await eventually(lambda: alive(marker) == [], 10, "nothing playing after the stop")


class Line:
    """A gpiod v2 LineRequest stand-in: the levels written (the line's own tests use the
    real binding's values; here only the writes are counted)."""

    def __init__(self) -> None:
        self.levels: list[object] = []

    def set_value(self, line: int, value: object) -> None:
        self.levels.append(value)

    def release(self) -> None:
        pass


async def test_the_gpio_line_blinks_on_while_the_previous_command_is_ended(
    scripts: Path,
) -> None:
    """Ending a `technical` tone that ignores SIGTERM takes SETTLE_S + GRACE_S (2 s); the
    line's `high` went on blinking meanwhile: it was written once, held on for those 2 s
    (read as `technical`'s 1-s on), as the loop waited for the command."""
    line = Line()
    state: list[Pattern] = ["technical"]
    cfg = AnnunciatorConfig(
        command=[str(loop_script(scripts, ignore_term=True))], gpio_chip="/dev/x", gpio_line=1
    )
    ann = Annunciator(cfg, lambda: state[0], gpio_opener=lambda c, n: (line, True, False))
    task = asyncio.create_task(ann.run())
    try:
        await playing(str(scripts), "technical")
        n = ann.changes
        state[0] = "high"
        ann.poke()
        await eventually(lambda: ann.changes > n, 10, "the change to high")
        at_change = len(line.levels)
        await eventually(lambda: calls(scripts)[-1:] == ["high"], 10, "high run")
        while_ended = line.levels[at_change - 1 : len(line.levels)]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert while_ended[:1] == [True], while_ended  # `high` starts on
    assert len(while_ended) >= 4, while_ended  # and blinks (~8 edges in the 2 s): was 1


async def test_a_stop_while_off_waits_for_high_to_end_still_runs_off(scripts: Path) -> None:
    """A stop that came while the change to `off` waited for the `high` command to end (it
    ignores SIGTERM: up to 2 s) killed `high` and did not run `off`: the last pattern was
    already `off`, so the stop took `off` as done. A script that switched a relay or a
    volume on for `high` left it on after the daemon stopped."""
    state: list[Pattern] = ["high"]
    async with annunciating(loop_script(scripts, ignore_term=True), state) as ann:
        await playing(str(scripts), "high")
        n = ann.changes
        state[0] = "off"
        ann.poke()
        await eventually(lambda: ann.changes > n, 10, "the change to off")
        # stopped at once: `high` is still being ended
    assert calls(scripts) == ["high", "off"]
    await eventually(lambda: alive(str(scripts)) == [], 10, "nothing playing after the stop")


@pytest.mark.usefixtures("quick_grace")
async def test_a_command_ended_for_the_next_pattern_is_no_failure_one_that_fails_is(
    scripts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A tone loop ended by SIGTERM (or SIGKILL) for the next pattern exits by our signal:
    no failure. A script that fails by itself (exit status 3, here for `technical`) is one
    ERROR and a fault for `monitord status` (docs/delivery.md), until a run ends well."""
    caplog.set_level(logging.DEBUG, "monitord.annunciator")
    marker = str(scripts)
    script = scripts / "fussy.sh"
    # `high` plays in a loop; `technical` fails at once, saying why; `off` returns at once.
    script.write_text(
        f'#!/bin/sh\necho "$1" >> "{scripts}/calls"\n'
        '[ "$1" = technical ] && { echo "no sound card" >&2; exit 3; }\n'
        f'[ "$1" = high ] && exec "{scripts}/player.sh" "$1"\nexit 0\n'
    )
    script.chmod(0o755)
    state: list[Pattern] = ["off"]
    async with annunciating(script, state) as ann:
        await change(ann, state, "high")
        await eventually(lambda: alive(marker) == [("player.sh", "high")], 10, "high playing")
        await change(ann, state, "off")  # the loop is ended by SIGTERM: no failure
        await eventually(lambda: alive(marker) == [], 10, "nothing playing after off")
        await asyncio.sleep(0)  # (its exit is seen by the watch, a task of its own)
        await eventually(lambda: calls(scripts)[-1:] == ["off"], 10, "off run")
        await eventually(lambda: ann._proc is None or ann._proc.returncode == 0, 10, "off done")
        assert ann.faults() == {}, ann.faults()
        await change(ann, state, "technical")
        await eventually(lambda: "annunciator_command" in ann.faults(), 10, "the failure said")
        fault = ann.faults()["annunciator_command"]
        assert fault.startswith(f"{str(script)!r} technical exited with status 3: "), fault
        assert "no sound card" in fault, fault
        await change(ann, state, "off")  # `off` exits 0: a run that ended well
        await eventually(lambda: ann.faults() == {}, 10, "the failure cleared by off")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "exited with status 3" in errors[0].getMessage(), errors
