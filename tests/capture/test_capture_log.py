"""`monitord capture` (which may run for a week on a chair), like every command, has the
daemon's log (monitord/cli.py): its WARNING lines went through Python's last resort,
bare (no level, no logger), unredacted, at the journal's default priority and written by
the event loop itself. Now they are the log's lines. A real `monitord capture` whose
port is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.capture.capture_kit import CHAIR, config


def test_a_captures_warning_is_a_line_of_the_log_at_its_priority(tmp_path: Path) -> None:
    port = tmp_path / "gone.tty"
    cfg = config(tmp_path, "cap", f'  id = "mon"\n  driver = "masimo-ascii"\n  port = "{port}"\n')
    out = tmp_path / "field.capture.jsonl"
    err = tmp_path / "stderr"
    with err.open("wb") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}  # as systemd sets
        r = subprocess.run(
            [sys.executable, "-m", "monitord", "capture", "--config", str(cfg),
             "--device", f"{CHAIR}/mon", "--out", str(out), "--seconds", "1"],
            stdout=subprocess.PIPE, stderr=f, env=env, timeout=120,
        )  # fmt: skip
    text = err.read_text()
    assert r.returncode == 0, text
    missing = [ln for ln in text.splitlines() if "port missing" in ln]
    assert len(missing) == 1, text
    assert missing[0].startswith(f"<4>WARNING monitord.drivers.serial_link: {CHAIR}/mon "), text
    assert str(port) in missing[0], text
