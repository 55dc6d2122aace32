"""`monitord status` says why a device that never came up is down (a real daemon).

Before: at start every device is down "not connected yet" (the device_lost timer starts
then), and the chair dropped the transport's own first report as a repeat, reason
included: a serial port that does not exist (a typo in the by-id name, an adapter on
another Pi) showed `reason=not connected yet` for as long as the daemon ran, while the
journal said `port missing`. Now a repeated down keeps the engine unchanged and gives
status the latest reason.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path


def test_status_names_the_missing_port(tmp_path: Path) -> None:
    port = tmp_path / "usb-FTDI_FT232R_USB_UART_NOPE-if00-port0"
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f"""
[site]
id = "clinic-test"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{tmp_path}/outbox.sqlite"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port}"
"""
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitord", "run", "-c", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stderr is not None
        for line in daemon.stderr:  # the link's own report, then the stop's final status
            if "port missing" in line:
                break
        daemon.send_signal(signal.SIGINT)
        daemon.communicate(timeout=30)
    finally:
        daemon.kill()
        daemon.wait()
    assert daemon.returncode == 0
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "status", "-c", str(cfg), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    ox = json.loads(r.stdout)["chairs"]["chair-1"]["state"]["devices"]["ox"]
    assert ox["link"] == "down"
    assert ox["reason"] == f"cannot open: [Errno 2] no such port: '{port}'"
