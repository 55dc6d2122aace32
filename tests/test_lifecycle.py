"""Daemon lifecycle: sd_notify protocol, clean stop, crash containment (issue 2, points 3-4)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.simulators import chair as sim_chair
from monitord.simulators.chair import start_simulated_chair

SCENARIO = "\n".join(
    ['{"t": 0, "event": "session_start", "protocol": "esketamine"}']
    + [f'{{"t": {t}, "event": "spo2", "spo2": 97, "pulse": 70}}' for t in range(1, 400)]
    + ['{"t": 400, "event": "end"}']
)


def sim_config(tmp: Path, speed: float = 1.0) -> str:
    (tmp / "s.jsonl").write_text(SCENARIO + "\n")
    return f"""
[site]
id = "lifecycle-test"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{tmp / "outbox.sqlite"}"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  simulate = "{tmp / "s.jsonl"}"
  simulate_speed = {speed}
"""


def test_notify_ready_watchdog_stopping_and_clean_exit(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(sim_config(tmp_path))
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.5)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitord", "run", "--config", str(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    msgs: list[str] = []

    def collect(until: float, pred: Any) -> None:
        while time.monotonic() < until and not pred():
            try:
                msgs.extend(sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                if proc.poll() is not None:
                    break

    try:
        collect(time.monotonic() + 30, lambda: msgs.count("WATCHDOG=1") >= 2)
        assert "READY=1" in msgs, (msgs, proc.poll())
        assert msgs.index("READY=1") < msgs.index("WATCHDOG=1")
        assert msgs.count("WATCHDOG=1") >= 2
        assert any(m.startswith("STATUS=") for m in msgs)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=5)  # the contract (design.md 4): exit within 5 s of SIGTERM
        collect(time.monotonic() + 1, lambda: "STOPPING=1" in msgs)
        assert rc == 0, proc.stderr.read() if proc.stderr else ""
        assert "STOPPING=1" in msgs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


async def test_crashing_device_task_is_restarted_with_growing_delays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord")
    crashes = 0

    def crashing_runner(dev: Any, ctx: Any, **kw: Any) -> Any:
        async def run() -> None:
            nonlocal crashes
            crashes += 1
            await asyncio.sleep(0.01)
            raise RuntimeError(f"decoder bug #{crashes}")

        return run

    # Fault injection: the device task itself fails (a driver bug), not its link. The
    # simulated chair builds its transports with `device_runner` (simulators/chair.py).
    monkeypatch.setattr(sim_chair, "device_runner", crashing_runner)
    cfg = loads_config(sim_config(tmp_path, speed=1.0))
    lines: list[str] = []
    daemon = Daemon(
        cfg,
        console=lines.append,
        restart_backoff_s=(0.05, 0.8),
        simulated=start_simulated_chair,
    )
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.05)
            st = daemon.supervisor.tasks.get("device:chair-1/ox") if daemon.supervisor else None
            if st is not None and st.restarts >= 5:
                break
        assert daemon.supervisor is not None
        st = daemon.supervisor.tasks["device:chair-1/ox"]
        assert st.restarts >= 5 and crashes >= 5
        # growing delays (equal jitter keeps each at least the previous) up to the cap
        assert all(b >= a for a, b in zip(st.delays, st.delays[1:], strict=False))
        assert st.delays[-1] > st.delays[0]
        assert max(st.delays) <= 0.8
        # the daemon is up: the chair task runs, and the crash is reported
        assert not task.done()
        assert daemon.supervisor.tasks["chair:chair-1"].state == "running"
        daemon.write_status()  # what `monitord status` shows
        await daemon.store.drain()  # written by the store's writer thread (issue 20)
        status = daemon.outbox.get_state("daemon")
        assert status is not None
        crashed = next(t for t in status["tasks"] if t["name"] == "device:chair-1/ox")
        assert crashed["restarts"] >= 5 and "decoder bug" in crashed["last_error"]
        assert "task(s) restarting" in daemon.summary() or crashed["state"] == "running"
        assert any("task device:chair-1/ox crashed" in line for line in lines)
        # The journal: the first crash at ERROR with its traceback (the bug report's
        # substance; the formatter writes one at ERROR and above only), the repeats at
        # DEBUG without one.
        told = [r for r in caplog.records if r.getMessage().startswith("task device:chair-1/ox")]
        assert told[0].levelno == logging.ERROR and told[0].exc_info is not None
        assert "decoder bug #1" in str(told[0].exc_info[1])
        assert all(r.levelno == logging.DEBUG and not r.exc_info for r in told[1:]), told
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 5)
