"""`monitord status` and an annunciator GPIO line the daemon cannot drive.

Before: status showed the annunciator's pattern alone (`delivery: ...,
annunciator=technical`), read by the admin as the chair's buzzer sounding, while its GPIO
line had never been opened (a chip the unit keeps from the daemon, a wrong gpio_chip, a
loose HAT): the journal's one ERROR at the daemon's start was the only sign, and the local
alarm for an unseen alert sounded on nothing. Now status says the line is not driven, and
why, as long as it is not.

A real `monitord run` with a real mosquitto (the shipped ACL), a real oximeter on a pty
reading 80 %, no station online (the `technical` pattern), a real annunciator command
(a script) beside `gpio_chip = "/dev/null"`: a character device, so check-config takes it
as a chip, which the kernel refuses as one (ENODEV), as it does any device not a GPIO chip.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import LiveFeed, Oximeter
from tests.heard.heard_kit import (
    JournalDaemon,
    annunciator_script,
    patterns,
    status_text,
    write_config,
)
from tests.kit import eventually


async def test_status_says_an_annunciator_line_not_driven(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    section, out = annunciator_script(tmp_path)
    section += 'gpio_chip = "/dev/null"\ngpio_line = 17\n'
    cfg = write_config(
        tmp_path, broker, username="chair-2", per_chair=True, annunciator=section,
        storage_extra="commit_interval_s = 0.5",
    )  # fmt: skip
    db = tmp_path / "outbox.sqlite"
    daemon = JournalDaemon(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            async with LiveFeed(ox, spo2=80.0):
                # An alert active and no station online: the technical pattern.
                await eventually(lambda: patterns(out)[-1:] == ["technical"], 40, "technical")
                await eventually(
                    lambda: "annunciator=technical" in status_text(db), 20, "status written"
                )
                shown = status_text(db)
                print(shown)
                lines = [ln for ln in shown.splitlines() if "annunciator GPIO" in ln]
                assert lines == [
                    "annunciator GPIO NOT driven (annunciator=technical shows on nothing "
                    "there): cannot drive /dev/null line 17: [Errno 19] No such device; "
                    "install monitord[gpio] and check annunciator.gpio_chip/gpio_line "
                    "(gpioinfo) and that the service user is in group gpio; `sudo monitord "
                    "doctor` checks the chip as the service meets it"
                ], shown
        finally:
            assert daemon.stop() == 0, daemon.output()


@contextlib.asynccontextmanager
async def sounding(
    tmp: Path, broker: AclMosquitto, command: Path
) -> AsyncIterator[tuple[JournalDaemon, Path]]:
    """A real chair daemon whose `[annunciator] command` is `command`, its oximeter at SpO2
    80 % (an alarm, no station: the annunciator sounds): (the daemon, its store). Stopped
    clean at the end."""
    section = f'[annunciator]\ncommand = ["{command}"]\n'
    cfg = write_config(
        tmp, broker, username="chair-2", per_chair=True, annunciator=section,
        storage_extra="commit_interval_s = 0.5",
    )  # fmt: skip
    daemon = JournalDaemon(cfg, tmp / "daemon.log")
    async with Oximeter(tmp) as ox:
        daemon.start()
        try:
            async with LiveFeed(ox, spo2=80.0):
                yield daemon, tmp / "outbox.sqlite"
        finally:
            assert daemon.stop() == 0, daemon.output()


async def test_status_says_an_annunciator_command_that_does_not_run(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """Its command gone (removed, a disk mounted late: check-config and the start only warn
    of it), the daemon's ERROR at the first sound was the only sign; status read
    `annunciator=technical`. Now it says the command did not run, and why."""
    gone = tmp_path / "monitord-tone"  # never made
    said = (
        "annunciator command NOT run (annunciator=technical shows on nothing there): "
        f"cannot run '{gone}': No such file or directory; check annunciator.command"
    )
    async with sounding(tmp_path, broker, gone) as (_, db):
        await eventually(lambda: said in status_text(db), 40, "the command not run")
        lines = [ln for ln in status_text(db).splitlines() if "NOT" in ln]
        assert lines == [said], lines


async def test_status_says_an_annunciator_command_that_fails(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """A command that starts but fails (a script whose `gpioset` or `aplay` is not
    installed: docs/delivery.md's own examples, while the docs leave Debian's libgpiod
    out): its exit status was never looked at. The shell's `not found` was one INFO line
    of its output, status read `annunciator=technical`, and the buzzer was silent. Now the
    failure is one ERROR line and status says the command failed, with its last words."""
    script = tmp_path / "monitord-tone"
    # What sh says for a program that is not there, on stderr, then exit status 127.
    script.write_text('#!/bin/sh\nmonitord-test-no-such-player "$1"\n')
    script.chmod(0o755)
    head = (
        "annunciator command NOT run (annunciator=technical shows on nothing there): "
        f"'{script}' technical exited with status 127"
    )
    async with sounding(tmp_path, broker, script) as (daemon, db):
        await eventually(lambda: head in status_text(db), 40, "the command failed")
        lines = [ln for ln in status_text(db).splitlines() if "NOT" in ln]
        assert len(lines) == 1 and lines[0].startswith(head), lines
        # Its last words (sh's `not found`) and what to do.
        assert "monitord-test-no-such-player" in lines[0], lines
        assert "not found" in lines[0], lines
        assert "sudo -u monitord" in lines[0], lines
    errors = [
        ln
        for ln in daemon.output().splitlines()
        if ln.startswith("<3>ERROR") and "annunciator command" in ln
    ]
    assert len(errors) == 1, errors
    assert "exited with status 127" in errors[0], errors


async def test_a_stop_while_a_tone_loop_sounds_is_no_failure(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """The unit's stop (KillMode=mixed: SIGTERM to the daemon alone) while a tone loop
    sounds: the daemon ends the loop itself and runs `off`, no ERROR, and the status the
    stop leaves says no failure. Under the default KillMode (SIGTERM to the loop too, at
    once), the loop's death by a signal not the daemon's was an ERROR at every stop, and
    2 stops in 3 left `annunciator command NOT run ... killed by signal 15` in status
    (tests/ops/test_systemd_unit.py holds the unit to KillMode=mixed)."""
    script = tmp_path / "monitord-tone"
    calls = tmp_path / "calls"
    # `technical` plays until ended (a loop in the foreground); `off` returns at once.
    script.write_text(
        f'#!/bin/sh\necho "$1" >> "{calls}"\n'
        '[ "$1" = off ] && exit 0\nwhile :; do sleep 0.2; done\n'
    )
    script.chmod(0o755)
    async with sounding(tmp_path, broker, script) as (daemon, db):
        await eventually(
            lambda: calls.exists() and calls.read_text().split() == ["technical"],
            40,
            "the tone loop sounding",
        )
    assert calls.read_text().split() == ["technical", "off"]
    out = daemon.output()
    errors = [ln for ln in out.splitlines() if ln.startswith("<3>") and "annunciator" in ln]
    assert errors == [], errors
    assert "annunciator=technical" in status_text(db), status_text(db)
    assert "NOT run" not in status_text(db), status_text(db)
