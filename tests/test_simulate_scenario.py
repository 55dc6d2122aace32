"""`monitord simulate` reads scenario lines as `monitord replay` does (issue 14): split at
\\n only, and a bad line is a one-line error with its number, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.simulators.commands.simulate import ScenarioError, read_scenario


def test_nested_brackets_are_a_line_error(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"t": 0, "event": "hr", "hr": 70}\n' + "[" * 100_000 + "\n")
    with pytest.raises(ScenarioError, match="line 2: "):
        read_scenario(f)


def test_form_feed_and_u2028_do_not_shift_lines(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text(
        '{"t": 0, "event": "hr", "hr": 70, "note": "a\u2028b"}\n'
        '{"t": 1, "event": "hr", "hr": 71}\f\n'
        '{"t": 2, "event": "hr"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="line 3: 'hr' needs 'hr'"):
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
