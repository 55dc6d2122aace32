"""docs/operations.md "Signals" held to the program: the journal lines it quotes are the
ones monitord writes (monitord/hangup.py, monitord/console.py), every signal an admin or
the system may send is there, and the units' restart on SIGHUP it names is in them. What
each signal does is shown on real processes by tests/faults/test_sighup.py,
tests/station/test_station_sighup.py, tests/capture/test_capture_sighup.py and
tests/faults/test_console_gone.py,
tests/faults/test_console_slow.py and tests/faults/test_demo_sighup.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitord.console import BACKLOG, BEHIND, CLOSED
from monitord.hangup import HUNG_UP, SAY_AGAIN_AFTER_S, reload_warning

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "operations.md").read_text()
SECTION = DOC.split("\n## Signals\n", 1)[1].split("\n## ", 1)[0]
FLAT = re.sub(r"\s+", " ", SECTION)


@pytest.mark.parametrize("command", ["run", "station", "demo"])
def test_the_sighup_line_is_quoted_as_written(command: str) -> None:
    assert f"`WARNING monitord: {reload_warning(command)}`" in FLAT


def test_the_repeats_are_said_as_they_are() -> None:
    assert SAY_AGAIN_AFTER_S == 3600
    assert "at WARNING once an hour at most, at DEBUG in between" in FLAT


def test_the_hangup_line_is_quoted_as_written() -> None:
    assert f"`INFO monitord: {HUNG_UP}`" in FLAT


def test_the_closed_console_line_is_quoted_as_written() -> None:
    assert f"`WARNING monitord: {CLOSED.format(why='Broken pipe')}`" in FLAT


def test_the_slow_console_line_is_quoted_as_written() -> None:
    assert f"`WARNING monitord: {BEHIND}`" in FLAT
    assert f"once {BACKLOG} lines wait for it" in FLAT


@pytest.mark.parametrize(
    "sig", ["SIGTERM", "SIGINT", "SIGHUP", "SIGPIPE", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGKILL"]
)
def test_every_signal_is_said(sig: str) -> None:
    assert f"`{sig}`" in SECTION


def test_the_units_restart_on_sighup_as_said() -> None:
    assert "`RestartForceExitStatus=SIGHUP`" in FLAT
    for unit in ("monitord.service", "monitord-station.service"):
        text = (REPO / "systemd" / unit).read_text()
        assert re.search(r"^RestartForceExitStatus=SIGHUP$", text, re.M), unit
