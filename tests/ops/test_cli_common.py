"""The command line as an operator meets it (issue 19): one `-c/--config` for every command,
`status` telling a stopped daemon from a running one in plain text, a quiet exit on a
closed pipe, and one version everywhere."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from monitord import __version__
from monitord.cli import COMMANDS, DEFAULT_CONFIG, EX_PIPE, build_parser
from tests.e2e.e2e_kit import (
    COUNTING_COMMIT_S,
    DaemonProcess,
    Oximeter,
    in_thread,
    whole_second,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]


def monitord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_dash_c_with_one_default(command: str) -> None:
    sub = build_parser(only=command)._subparsers
    assert sub is not None
    action = sub._group_actions[0]
    assert isinstance(action, argparse._SubParsersAction)
    parser = action.choices[command]
    opts = {s: a for a in parser._actions for s in a.option_strings}
    assert "-c" in opts and "--config" in opts
    assert opts["-c"] is opts["--config"]
    # replay alone has no default: its output must not depend on the machine's config;
    # the station reads its own file, the one its unit passes (before: monitord.toml);
    # report's is None in argparse so that a typed `-c` equal to the default is told from
    # none typed (a typed one that is missing is refused), and it reads DEFAULT_CONFIG
    # when there is one, as its help says.
    # demo plays its embedded defaults and refuses a config (it would not read it).
    default = {
        "replay": None,
        "station": "/etc/monitord/station.toml",
        "report": None,
        "demo": None,
    }
    assert opts["-c"].default == default.get(command, DEFAULT_CONFIG)
    shown = DEFAULT_CONFIG if command == "report" else opts["-c"].default
    assert command in ("replay", "demo") or shown in " ".join(parser.format_help().split())


def test_the_station_default_is_the_one_its_unit_passes() -> None:
    unit = (ROOT / "systemd" / "monitord-station.service").read_text()
    assert "monitord station -c /etc/monitord/station.toml" in unit
    r = monitord("station", "--help")
    assert r.returncode == 0 and "(default: /etc/monitord/station.toml)" in " ".join(
        r.stdout.split()
    ), r.stdout


def test_the_daemon_default_is_the_one_its_unit_passes_and_the_docs_state() -> None:
    """docs/commands.md: "Every command takes -c/--config PATH, default
    /etc/monitord/monitord.toml; when the file is named monitord.toml, the conf.d files
    beside it are merged". A default drifting from the unit's file (`status`, `doctor`,
    `backup` on a Pi then read another config than the daemon runs) or from the one name
    that takes conf.d/ (the fleet's chair files left out of every command) was not caught:
    the test above compares the parser with DEFAULT_CONFIG itself."""
    from monitord.config_layers import LAYERED_NAME

    assert DEFAULT_CONFIG == "/etc/monitord/monitord.toml"
    unit = (ROOT / "systemd" / "monitord.service").read_text()
    assert f"monitord run --config {DEFAULT_CONFIG}\n" in unit
    assert Path(DEFAULT_CONFIG).name == LAYERED_NAME
    doc = " ".join((ROOT / "docs" / "commands.md").read_text().split())
    assert f"**`-c/--config PATH`**, default `{DEFAULT_CONFIG}`" in doc


def test_check_config_shows_its_positional_form() -> None:
    """`check-config PATH` is the stable form (the design's command table): --help shows
    it (before: hidden, only -c was listed)."""
    r = monitord("check-config", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].endswith("[PATH]"), r.stdout
    assert "positional arguments:" in r.stdout and "the config to check" in r.stdout


def test_version_is_the_package_metadata_and_the_changelog_top() -> None:
    r = monitord("--version")
    assert (r.returncode, r.stdout) == (0, f"monitord {__version__}\n")
    # pyproject.toml takes the version from monitord/__init__.py (one place)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project.get("dynamic", []) and "version" not in project
    # the newest CHANGELOG entry is this version
    heads = [ln for ln in (ROOT / "CHANGELOG.md").read_text().splitlines() if ln.startswith("## ")]
    assert heads[0].split()[1] == __version__, heads[0]


def test_closed_pipe_is_a_quiet_exit(tmp_path: Path) -> None:
    """`monitord replay X | head`: the reader is gone before replay writes (here: the read
    end is closed before the child starts, so the first write fails for certain)."""
    scenario = ROOT / "simulators" / "scenarios" / "demo-esketamine.jsonl"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = subprocess.run(
            [sys.executable, "-m", "monitord", "replay", str(scenario)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (p.returncode, p.stderr) == (EX_PIPE, "")


async def test_status_tells_running_from_stopped(tmp_path: Path) -> None:
    # The daemon's state (what `status` reads) is written with the group commits: every
    # 0.5 s, not 5, so the wait for it below takes a moment, not up to a whole interval.
    cfg = write_config(tmp_path, extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")

    def status() -> str:
        r = monitord("status", "-c", str(cfg))
        return r.stdout if r.returncode == 0 else r.stderr  # no store before the first start

    started = time.time()
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            assert daemon.proc is not None
            pid = daemon.proc.pid
            text = ""

            async def running() -> bool:
                nonlocal text
                await ox.send(97.0, whole_second())
                text = await in_thread(status)
                return f"daemon: running (pid {pid}, monitord {__version__}" in text

            for _ in range(60):
                if await running():
                    break
            assert f"daemon: running (pid {pid}" in text, text
            assert "state written" in text and "{" not in text and "'" not in text, text
        finally:
            assert daemon.stop() == 0, daemon.output()
    text = await in_thread(status)
    assert text.splitlines()[1].startswith(f"daemon: STOPPED (last run pid {pid}"), text
    assert "not live" in text
    js = json.loads(monitord("status", "-c", str(cfg), "--json").stdout)
    assert js["running"] is False and js["daemon"]["pid"] == pid
    # docs/operations.md: a fleet script reads `running` and `daemon_state_age_s`.
    assert isinstance(js["daemon_state_age_s"], float) and js["daemon_state_age_s"] >= 0, js
    # ...in seconds (docs/commands.md: "pid, age of its last state"): the state was written
    # after `started`, so its age cannot exceed the time since; an age in ms, or one
    # counted from another clock, told a fleet script every daemon was long silent. Not a
    # timing bound: whatever the load, the age is below the elapsed time.
    elapsed = time.time() - started
    assert js["daemon_state_age_s"] <= elapsed + 0.1, (js["daemon_state_age_s"], elapsed)
    seen = re.search(r"state written (\d+) s ago", text)
    assert seen and int(seen[1]) <= elapsed + 1, (text, elapsed)


def test_demo_refuses_a_config_it_would_not_read(tmp_path: Path) -> None:
    # The demo runs on its embedded defaults (design.md: `monitord demo`); `-c my.toml`
    # was taken and ignored: the embedded chairs played, never the config's, and nothing
    # said so. The store is never touched.
    cfg = tmp_path / "my.toml"
    cfg.write_text('[site]\nid = "mine"\n[[chairs]]\nid = "chair-9"\n')
    store = tmp_path / "d.sqlite"
    r = monitord("demo", "-c", str(cfg), "--offline", "--store", str(store))
    assert r.returncode == 64, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert r.stdout == "" and not store.exists()
    assert r.stderr == (
        f"monitord demo: -c {cfg}: the demo plays its embedded defaults and reads no config; "
        f"play a config's simulated chairs with: monitord run -c {cfg}\n"
    )


@pytest.mark.parametrize("speed", ["0", "-2", "nan", "20000"])
def test_demo_bad_speed_is_one_line_naming_the_option(speed: str, tmp_path: Path) -> None:
    # It was four lines naming the embedded defaults' devices ("<demo defaults>:
    # chairs[0].devices[0].simulate_speed: ..."), exit 78 (a bad config) for an option.
    r = monitord("demo", f"--speed={speed}", "--offline", "--store", str(tmp_path / "d.sqlite"))
    assert r.returncode == 64, r.stderr
    assert r.stderr.splitlines() == [
        f"monitord demo: --speed {float(speed):g}: must be > 0 and at most 10000"
    ]
    assert not (tmp_path / "d.sqlite").exists()


@pytest.mark.parametrize(
    ("command", "option", "most"),
    [("doctor", "--timeout", 3600), ("scan", "--seconds", 3600), ("capture", "--seconds", 604800)],
)
@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e300", "604801"])
def test_seconds_out_of_range_are_64_as_every_such_option(
    command: str, option: str, most: int, value: str, tmp_path: Path
) -> None:
    # doctor --timeout 0 was argparse's exit 2 while capture/scan --seconds 0 were 64 (the
    # table: an option value out of range is 64, as demo's and simulate's --speed);
    # --seconds nan was taken; 0 timed every doctor check out at once, 1e300 a traceback.
    args = [command, f"{option}={value}", "-c", str(tmp_path / "none.toml")]
    if command == "capture":
        args += ["--device", "chair-1/ox", "--out", str(tmp_path / "cap.jsonl")]
    r = monitord(*args)
    assert (r.returncode, r.stdout) == (64, ""), r.stderr
    assert r.stderr.splitlines() == [
        f"monitord {command}: {option} {float(value):g}: must be > 0 and at most {most}"
    ]
    assert not (tmp_path / "cap.jsonl").exists()


@pytest.mark.parametrize("command", ["doctor", "scan", "capture"])
def test_seconds_that_are_no_number_are_the_parsers_2(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    option = "--timeout" if command == "doctor" else "--seconds"
    args = [command, f"{option}=abc"]
    if command == "capture":
        args += ["--device", "chair-1/ox", "--out", "x"]
    with pytest.raises(SystemExit) as stop:
        build_parser(only=command).parse_args(args)
    assert stop.value.code == 2
    assert f"monitord {command}: error: argument {option}: " in capsys.readouterr().err
    assert build_parser(only="doctor").parse_args(["doctor", "--timeout=0.5"]).timeout == 0.5
