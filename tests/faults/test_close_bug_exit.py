"""A bug in the store's close is not a clean stop: `monitord run` exits 70, not 0.

Before: the close logged the bug at ERROR (tests/faults/test_close_steps.py: every step
runs after it) and the daemon exited 0, so systemd logged "Deactivated successfully" and
the unit read inactive, not failed: nothing in `systemctl --failed`, the bug only in the
journal. Now the stop's steps all run as before and the exit is 70 (EX_SOFTWARE), so the
unit reads failed (docs/commands.md).

Only a bug gets there, so one is injected: a `monitord run` process whose checkpointer's
end raises (a wrapper script, as tests/test_gcpacer.py's), stopped with SIGTERM once it is
ready. The same process without the bug exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_lifecycle import sim_config

BUGGY_CLOSE = """
import sys
import monitord.sdnotify as sd
import monitord.store.checkpoint as ck
ready = sd.Notifier.ready
def noted(self, *a, **k):
    # One write: print() writes the text and its newline apart, and a log line of the
    # store's writer thread between them ("READYINFO ...", seen in test_gcpacer) leaves the
    # wait below reading to an end that never comes (likely a CI run's 300-s timeout).
    sys.stderr.write("READY\\n")
    sys.stderr.flush()
    ready(self, *a, **k)
sd.Notifier.ready = noted
if sys.argv[2] == "bug":
    stop = ck.Checkpointer.stop
    def buggy(self, *a, **k):
        stop(self, *a, **k)
        raise RuntimeError("the checkpointer's bug")
    ck.Checkpointer.stop = buggy
sys.argv = ["monitord", "run", "--config", sys.argv[1]]
from monitord.cli import main
sys.exit(main())
"""


def _run_and_stop(tmp_path: Path, bug: bool) -> tuple[int, str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(sim_config(tmp_path))
    script = tmp_path / "buggy_close.py"
    script.write_text(BUGGY_CLOSE)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "no-systemd.sock")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(cfg), "bug" if bug else "none"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        for line in proc.stderr:  # ends when the process does
            if line.strip() == "READY":
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert line.strip() == "READY", f"never ready: {line}{err[-2000:]}"
    return proc.returncode, err


@pytest.mark.parametrize("bug", [False, True], ids=["clean", "bug"])
def test_a_bug_in_the_close_exits_70(tmp_path: Path, bug: bool) -> None:
    rc, err = _run_and_stop(tmp_path, bug)
    if not bug:
        assert rc == 0, err[-2000:]
        assert "a bug" not in err, err[-2000:]
        return
    assert rc == 70, f"exit {rc}: {err[-2000:]}"
    # said once, at ERROR, with what failed
    said = [ln for ln in err.splitlines() if "store close:" in ln and "failed (a bug)" in ln]
    assert len(said) == 1, err[-3000:]
