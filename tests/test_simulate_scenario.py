"""`monitord simulate` reads scenario lines as `monitord replay` does (issue 14): split at
\\n only, and a bad line is a one-line error with its number, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.scenario import ScenarioError
from monitord.simulators.commands.simulate import read_scenario


def test_nested_brackets_are_a_line_error(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"t": 0, "event": "hr", "hr": 70}\n' + "[" * 100_000 + "\n")
    with pytest.raises(ScenarioError, match=r"s\.jsonl:2: "):
        read_scenario(f)


def test_form_feed_and_u2028_do_not_shift_lines(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text(
        '{"t": 0, "event": "ack", "rule": "bp.severe", "by": "a\u2028b"}\n'
        '{"t": 1, "event": "hr", "hr": 71}\f\n'
        '{"t": 2, "event": "hr"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"s\.jsonl:3: hr: hr: "):
        read_scenario(f)


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf"])
def test_bad_speed_is_a_usage_error(speed: str) -> None:
    # NaN passed `speed <= 0` and played the whole scenario at once (inf passed the
    # `not speed > 0` that replaced it, and did the same); 0 was exit 65, the
    # code of a bad scenario line (docs/commands.md).
    import subprocess
    import sys

    scenario = Path(__file__).parents[1] / "simulators" / "scenarios" / "demo-esketamine.jsonl"
    args = ["--driver", "masimo-ascii", "--socket", "0", f"--speed={speed}", str(scenario)]
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 64, (r.stdout[-500:], r.stderr)
    assert r.stderr.splitlines() == [
        f"monitord simulate: --speed {float(speed):g}: must be > 0 and finite"
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        # an event the contract does not know played nothing and said nothing
        ('{"t": 1, "event": "probe_off"}', "unknown event 'probe_off'"),
        # a misspelt field was dropped: the scenario's finger out never went on the wire
        ('{"t": 1, "event": "spo2", "spo2": 90, "probe_of": true}', "probe_of: unknown field"),
        # a string where the contract wants a bool was read as true
        ('{"t": 1, "event": "spo2", "spo2": 90, "probe_off": "no"}', "probe_off"),
    ],
)
def test_a_line_replay_refuses_is_refused(tmp_path: Path, line: str, reason: str) -> None:
    # docs/scenarios.md is the contract for `monitord simulate` as for `monitord replay`:
    # its own reader let these lines through in silence (exit 0, the event not played).
    f = tmp_path / "s.jsonl"
    f.write_text('{"t": 0, "event": "spo2", "spo2": 97, "pulse": 72}\n' + line + "\n")
    with pytest.raises(ScenarioError, match=rf"s\.jsonl:2: .*{reason}"):
        read_scenario(f)


def test_a_bad_line_is_exit_65_naming_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "s.jsonl"
    f.write_text('{"t": 0, "event": "spo2", "spo2": 97}\n{"t": 1, "event": "bogus"}\n')
    args = ["--driver", "masimo-ascii", "--socket", "0", str(f)]
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 65, (r.stdout[-500:], r.stderr)
    (only,) = r.stderr.splitlines()
    assert only.startswith(f"monitord simulate: {f}:2: unknown event 'bogus'"), only


def test_an_error_bp_needs_no_values(tmp_path: Path) -> None:
    # scenarios.md: a cuff error is `"error": true` without sys/dia
    f = tmp_path / "s.jsonl"
    f.write_text('{"t": 0, "event": "bp", "error": true}\n')
    (step,) = read_scenario(f)
    assert step.sim is not None and step.sim.error
