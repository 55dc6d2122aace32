"""`[alerts]` overrides are validated against the rule table by `monitord check-config`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitord.cli import main as cli_main

# A site and a chair with a device: a config without them is refused (or warned) before
# the overrides are looked at.
CHAIR = (
    '[site]\nid = "alerts-test"\n'
    '[[chairs]]\nid = "chair-1"\n'
    '[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\n'
    'port = "/dev/serial/by-id/usb-ox-if00"\n'  # a stable name: /dev/ttyUSB0 is warned of
)


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    p = tmp_path / "monitord.toml"
    p.write_text(text + CHAIR)
    rc = cli_main(["check-config", str(p)])
    return rc, capsys.readouterr().err.splitlines()


def test_bad_alert_overrides_exit_78_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, lines = _check(
        tmp_path,
        '[alerts."bp.severe"]\nconfirm = 0\n[alerts."hr.high"]\nfor_sec = 300\n'
        '[alerts."bp.everything"]\nsys_ge = 1\n',
        capsys,
    )
    p = tmp_path / "monitord.toml"
    assert rc == 78
    assert lines[0] == f"{p}: alerts.bp.severe.confirm: must be an integer >= 1"
    assert lines[1].startswith(f"{p}: alerts.hr.high.for_sec: unknown parameter")
    assert lines[2].startswith(f"{p}: alerts.bp.everything: unknown rule id")
    assert len(lines) == 3


def test_good_alert_overrides_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines = _check(tmp_path, '[alerts."bp.severe"]\nconfirm = 3\nsys_ge = 175\n', capsys)
    assert rc == 0 and lines == []
    assert capsys.readouterr().out == ""  # already consumed by _check; "ok" printed there


def test_an_override_beyond_a_float_is_refused_by_run(tmp_path: Path) -> None:
    # TOML integers are unbounded: this one passed check-config and stopped the daemon's
    # start with a traceback (exit 1, "a bug"), no chair monitored; now exit 78, one line
    # (check-config: tests/config_cases/alerts-number-beyond-a-float).
    p = tmp_path / "monitord.toml"
    p.write_text(
        f'[alerts."spo2.low"]\nfor_s = 1{"0" * 400}\n'
        f'[storage]\npath = "{tmp_path}/o.sqlite"\n[mqtt]\nenabled = false\n'
        "[influx]\nenabled = false\n" + CHAIR
    )
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "run", "--config", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (r.returncode, r.stderr.splitlines()) == (
        78,
        [f"{p}: alerts.spo2.low.for_s: must be a number of seconds >= 0 and at most 1.8e308"],
    )
