"""A Pi whose network is not up yet at boot (DHCP, Wi-Fi) and whose broker is configured
by its address, not a name: no route at all (ENETUNREACH). A real one: `monitord run` and
`monitord doctor` in a network namespace of their own with no interface up (`unshare -n`),
as a Pi before DHCP. The name that does not resolve yet was handled (0102e0a); the address
was not: "cannot reach broker 192.0.2.1:1883: [Errno 101] Network is unreachable", no
advice, retried after a backoff grown to 30 s (the chair offline up to 30 s after the
network came up), and doctor said "start the broker". Now the line names this machine's
network and what to check, and it is retried every 2 s, as the name.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, write_config
from tests.kit import eventually

BROKER = "192.0.2.1"  # TEST-NET-1 (RFC 5737): unreachable anyway in a namespace with no route
MQTT = f'\n[mqtt]\nhost = "{BROKER}"\nport = 1883\nprefix = "boot"\ntimeout_s = 2\n'
PROMPT_S = 2.0  # monitord/tlsclock.py CLOCK_RETRY_S


class NoNetworkDaemon(DaemonProcess):
    """`monitord run` in a network namespace with no interface up."""

    def start(self) -> None:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                ["unshare", "-n", sys.executable, "-m", "monitord", "run",
                 "--config", str(self.cfg_path)],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip


async def test_a_broker_address_with_no_route_at_boot_is_said_and_retried_every_2_s(
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, mqtt=MQTT)
    cfg.write_text(cfg.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"'))
    daemon = NoNetworkDaemon(cfg, tmp_path / "daemon.log")

    def tries() -> list[str]:
        text = daemon.log.read_text(errors="replace")
        return [ln for ln in text.splitlines() if "monitord.sinks.mqtt" in ln and "retrying" in ln]

    daemon.start()
    try:
        await eventually(lambda: len(tries()) >= 7, 60, "seven attempts")
    finally:
        daemon.stop()
    first = tries()[0]
    assert first.startswith("WARNING"), first
    assert f"broker {BROKER}:1883 not reachable: this machine has no route to it" in first
    assert "network is not up yet (DHCP, Wi-Fi, cable)" in first, first
    assert f"`ip route get {BROKER}`" in first, first
    assert all(ln.startswith("DEBUG") for ln in tries()[1:]), tries()
    delays = [float(m.group(1)) for t in tries() if (m := re.search(r"in ([\d.]+) s", t))]
    assert len(delays) >= 7 and max(delays) <= PROMPT_S, delays


async def test_doctor_names_this_machines_network_not_the_broker(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, mqtt=MQTT)
    p = await asyncio.create_subprocess_exec(
        "unshare", "-n", sys.executable, "-m", "monitord", "doctor", "-c", str(cfg),
        "--timeout", "3", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(p.communicate(), 60)
    line = next(ln for ln in out.decode().splitlines() if ln.split()[1:2] == ["mqtt:"])
    print(line)
    assert line.startswith("FAIL") and "not reachable: no route to it" in line, line
    assert "is this machine's network up (DHCP, Wi-Fi, cable)?" in line, line
    assert f"`ip route get {BROKER}`" in line and "start the broker" not in line, line
