"""A store whose disk hangs (an fsync that does not return) must not silence an alarm.

Found by the liveness audit: an alert is committed before it is published, in the store's
writer thread. With the disk hung in fsync (an SD card that died, a stalled NFS mount)
every commit waited behind the hung one, and the daemon went quiet without dying: an
SpO2 alarm reached neither MQTT (no event, no active set) nor the console, `monitord
status` showed "0 active alert(s)" and nothing wrong, and the watchdog kept pinging, so
systemd saw a healthy daemon (clinical-rules.md "Delivery of alarms": the daemon raises a
local technical alarm when alerts cannot be delivered; an alarm is never silenced without
it saying so). Now `store.stalled` (monitord/storestall.py) is raised after
`storage.stall_alarm_after_s`, the held alarm shows on the console and in the retained
active set, and its event still goes out only once stored.

All real: `monitord run` as a child with the bench's slow-disk shim (bench/slowdisk.c)
preloaded, its syncs hung while a gate file exists; a Masimo oximeter on a pty; mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from bench import slowdisk
from bench.alert_latency import masimo_line
from bench.common import child_env
from monitord.simulators.pty import PtyPort
from tests.servers import Mosquitto

REPO = Path(__file__).resolve().parents[2]


def _config(tmp: Path, mq: Mosquitto, prefix: str, port: str) -> str:
    return f"""
[site]
id = "stall"
[mqtt]
host = "{mq.host}"
port = {mq.port}
prefix = "{prefix}"
[influx]
enabled = false
[storage]
path = "{tmp / "store.sqlite"}"
commit_interval_s = 0.2
stall_alarm_after_s = 1

[alerts]
"spo2.very_low" = {{ for_s = 0, clear_for_s = 0, latching = false }}
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port}"
"""


def _wait_ready(sock: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> None:
    sock.settimeout(0.2)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(TimeoutError):
            if "READY=1" in sock.recv(65536).decode().split("\n"):
                return
    raise AssertionError(f"never READY (rc {proc.poll()}): {log.read_text()[-2000:]}")


def _start(cfg: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "--console", "--config", str(cfg)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip


def _status(cfg: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--config", str(cfg)],
        env=child_env(), capture_output=True, text=True, cwd=REPO, timeout=30,
    ).stdout  # fmt: skip


async def test_a_hung_disk_raises_store_stalled_and_the_alarm_still_shows(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    so = slowdisk.build(tmp_path / "shim")
    gate = tmp_path / "disk-hangs"
    ox = PtyPort()
    await ox.open()
    cfg = tmp_path / "c.toml"
    cfg.write_text(_config(tmp_path, mosquitto, mqtt_prefix, ox.port))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    log = tmp_path / "daemon.log"
    # Each sync hangs 120 s while the gate file exists (its removal ends the hang).
    env = child_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                    **slowdisk.env(so, 120_000, gate=gate))  # fmt: skip
    proc = _start(cfg, env, log)
    base = f"{mqtt_prefix}/stall/chair-1"
    got: list[tuple[str, dict[str, object]]] = []

    async def until(pred: Callable[[], bool], what: str, feed: int = 97) -> None:
        deadline = time.monotonic() + 15
        while not pred():
            assert time.monotonic() < deadline, (
                f"not within 15 s: {what}; {got[-5:]}\n" + (log.read_text()[-3000:])
            )
            ox.write(masimo_line(feed))
            await asyncio.sleep(0.2)

    def active_has_alarm() -> bool:
        return any(t == f"{base}/alerts/active" and "spo2.very_low" in json.dumps(p)
                   for t, p in got)  # fmt: skip

    def raised() -> bool:
        return any(t == f"{base}/alerts/events" and p.get("event") == "raised" for t, p in got)

    try:
        await asyncio.to_thread(_wait_ready, sock, proc, log)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as c:
            await c.subscribe(f"{base}/#", qos=1)

            async def rx() -> None:
                async for m in c.messages:
                    if isinstance(m.payload, bytes):
                        got.append((str(m.topic), json.loads(m.payload)))

            task = asyncio.create_task(rx())
            # The store works: vitals are committed and published.
            await until(lambda: any("/vitals/spo2" in t for t, _ in got), "live vitals")
            gate.touch()  # the disk hangs from here
            await until(active_has_alarm, "the held alarm in the retained active set", 80)
            await until(lambda: "TECHNICAL ALARM store.stalled" in log.read_text(), "alarm", 80)
            text = log.read_text()
            assert "RAISED spo2.very_low [high]" in text and "(NOT STORED YET)" in text, text
            # Durable before delivered: the event itself waits for its commit.
            assert not raised(), got
            status = await asyncio.to_thread(_status, cfg)
            assert "TECHNICAL ALARM store.stalled" in status, status
            gate.unlink()  # the disk answers again
            await until(raised, "the alert event, once stored", 80)
            await until(lambda: "technical alarm store.stalled cleared" in log.read_text(),
                        "the stall alarm cleared")  # fmt: skip
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task  # ended before the client disconnects
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()[-3000:]
    finally:
        gate.unlink(missing_ok=True)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        await ox.close()
    assert "Traceback" not in log.read_text()
