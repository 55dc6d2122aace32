"""`monitord demo` sent SIGHUP without a terminal (started by a script, a CI job, under
`setsid`): its warning was the daemon's, "monitord run reads its config only at start; to
apply an edit: monitord check-config, then systemctl restart monitord", advice that is
wrong for the demo (it reads no config and is no unit). Now it says the demo reads no
config and goes on. A real demo process in a session of its own (no terminal)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from monitord.hangup import reload_warning
from tests.kit import eventually, sighup_default


def start_demo(tmp_path: Path) -> subprocess.Popen[bytes]:
    with open(tmp_path / "demo.err", "wb") as err, open(tmp_path / "demo.out", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitord", "demo", "--offline", "--speed", "5",
             "--store", str(tmp_path / "demo.sqlite")],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=tmp_path,
            start_new_session=True,  # no controlling terminal
            preexec_fn=sighup_default,
        )  # fmt: skip


async def test_a_sighup_to_the_demo_says_the_demos_words(tmp_path: Path) -> None:
    err = tmp_path / "demo.err"
    proc = start_demo(tmp_path)
    try:
        await eventually(
            lambda: (tmp_path / "demo.out").read_text().count("\n") > 3 or proc.poll() is not None,
            60,
            "the demo playing",
        )
        assert proc.poll() is None, err.read_text()[-3000:]
        proc.send_signal(signal.SIGHUP)
        await eventually(lambda: "SIGHUP" in err.read_text() or proc.poll() is not None, 15)
        assert proc.poll() is None, err.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    text = err.read_text()
    line = next(ln for ln in text.splitlines() if "SIGHUP" in ln)
    assert line.endswith(reload_warning("demo")), line
    assert "WARNING" in line and "demo" in line, line
    assert "monitord run" not in line and "systemctl" not in line, line
    assert rc == 0, (rc, text[-3000:])
