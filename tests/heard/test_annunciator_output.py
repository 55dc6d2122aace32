"""The annunciator's command and a log nobody reads (a journald that hangs: its stream
socket full). The command inherited the daemon's stdout and stderr, the journal's stream:
a tone script's first line there (`aplay` says "Playing WAVE ..." on stderr before it
plays) blocked it, and the tone for an alarm the station may not be showing never
sounded while the journal did not read. Now its output is read by the daemon and logged
through the log's queue (monitord/logwriter.py), one INFO line each; the command runs
through. A real script, a real pipe of one page, full, as the process's stderr."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import pytest

from monitord.annunciator import Pattern
from tests.heard.test_annunciator_command import annunciating, calls, scripts  # noqa: F401
from tests.kit import eventually

PAGE = 4096

TONE = """#!/bin/sh
echo "Playing WAVE 'alarm-$1.wav' : Signed 16 bit Little Endian, Rate 44100 Hz, Mono" >&2
echo "tone $1"
echo "$1" >> "{dir}/calls"
"""


def full_pipe() -> tuple[int, int]:
    """A pipe of one page, filled until not one byte more fits (a journal stream that is
    not read)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PAGE)
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"x" * 512)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    return read_end, write_end


async def test_the_tone_sounds_while_nobody_reads_the_log(
    scripts: Path,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "monitord.annunciator")
    script = scripts / "tone.sh"
    script.write_text(TONE.format(dir=scripts))
    script.chmod(0o755)
    read_end, write_end = full_pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)  # the process's stderr: the journal's stream, not read
    try:
        state: list[Pattern] = ["off"]
        async with annunciating(script, state) as ann:
            state[0] = "high"
            ann.poke()
            await eventually(lambda: "high" in calls(scripts), 15, "the high tone's command ran")
            await eventually(lambda: len(said(caplog)) == 2, 15, "its output logged")
    finally:
        os.dup2(saved, 2)
        for fd in (saved, read_end, write_end):
            os.close(fd)
    assert said(caplog) == [
        "annunciator command (high): Playing WAVE 'alarm-high.wav' : "
        "Signed 16 bit Little Endian, Rate 44100 Hz, Mono",
        "annunciator command (high): tone high",
    ]


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("annunciator command (high)")
    ]
