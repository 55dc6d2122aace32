"""Why the service stopped, at the priority an admin filters on. Under the unit, stderr is
the journal; log records carry a `<N>` syslog prefix there (monitord/log.py), but the lines
a command prints before it exits (a bad config: exit 78, systemd does not retry) had none
and landed at priority 6 (info): `journalctl -u monitord -p err` showed nothing of why the
unit was failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD = '[site]\nid = "x"\n[mqtt]\nport = 0\n[[chairs]]\nid = "c1"\nprotocol = "nope"\n'


def run_bad(tmp: Path, journal: bool) -> tuple[int, list[str]]:
    cfg = tmp / "monitord.toml"
    cfg.write_text(BAD)
    err = tmp / "stderr"
    with open(err, "wb") as f:
        st = os.fstat(f.fileno())
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        p = subprocess.run(
            [sys.executable, "-m", "monitord", "run", "-c", str(cfg)],
            stderr=f,
            stdout=subprocess.DEVNULL,
            env=env,
            timeout=60,
        )
    return p.returncode, err.read_text().splitlines()


@pytest.mark.parametrize("journal", [True, False])
def test_a_bad_config_is_an_error_in_the_journal(tmp_path: Path, journal: bool) -> None:
    rc, lines = run_bad(tmp_path, journal)
    assert rc == 78
    assert len(lines) == 2, lines
    prefix = "<3>" if journal else ""
    assert lines[0] == f"{prefix}{tmp_path}/monitord.toml: mqtt.port: " + (
        "Input should be greater than or equal to 1"
    ), lines
    assert lines[1].startswith(f"{prefix}{tmp_path}/monitord.toml: chairs[0].protocol: "), lines
