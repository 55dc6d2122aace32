"""`monitord demo` left playing with its stdout on a terminal that then closed (SIGHUP
ignored: `nohup` keeps a terminal's output there): every write there fails with EIO. The
demo's lines were printed by the event loop: the readings' listener logged an ERROR "a
bug" at every batch, then "scenario finished" raised, exit 1, no report written. A real
demo on a pty whose master is closed after its first lines."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

from monitord.commands.demo import STDOUT_GONE


def _sighup_ignored() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup


def test_a_demo_whose_terminal_closed_plays_to_its_end_and_writes_its_reports(
    tmp_path: Path,
) -> None:
    master, slave = pty.openpty()
    with open(tmp_path / "demo.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitord", "demo", "--offline", "--speed", "2000",
             "--store", str(tmp_path / "demo.sqlite")],
            stdout=slave, stderr=err, stdin=subprocess.DEVNULL, cwd=tmp_path,
            preexec_fn=_sighup_ignored,
        )  # fmt: skip
    os.close(slave)
    try:
        seen = b""
        while seen.count(b"\n") < 5:  # its first lines, on the terminal
            data = os.read(master, 4096)
            assert data, "the demo's terminal saw nothing"
            seen += data
        os.close(master)  # the terminal closes: every write there is EIO from now on
        rc = proc.wait(240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = (tmp_path / "demo.err").read_text()
    assert rc == 0, text[-3000:]
    assert "a bug" not in text, text[-3000:]
    gone = [ln for ln in text.splitlines() if "stdout is closed" in ln]
    assert gone == ["WARNING monitord: " + STDOUT_GONE.format(why="Input/output error")], text[
        -3000:
    ]
    events = sorted(p.name for p in (tmp_path / "reports").glob("*-events.csv"))
    assert [n.split("-")[0:2] for n in events] == [["chair", "1"], ["chair", "2"]], events
