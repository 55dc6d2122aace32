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
import os
import re
import signal
import socket
import sqlite3
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
# The stop's store budget for the test that waits it out (the daemon's is 10 s): enough
# for the stop's commits before the close on a loaded machine, the hang is the close's.
STOP_WAIT_S = 3.0


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


# `python -m monitord` with the stop's budget for the store (storestop.STOP_WAIT_S, 10 s)
# set first, as tests/faults/test_store_close_hang.py sets it in process: a test that
# waits the budget out need not wait 10 s of it.
_WITH_BUDGET = (
    "import sys; from monitord import storestop; "
    "storestop.STOP_WAIT_S = float(sys.argv.pop(1)); "
    "from monitord.cli import main; sys.exit(main())"
)


def _start(
    cfg: Path,
    env: dict[str, str],
    log: Path,
    journal: Path | None = None,
    stop_wait_s: float | None = None,
) -> subprocess.Popen[bytes]:
    """`monitord run --console`, its console on `log`, its journal (stderr) on `journal`
    or else on `log` too; with `stop_wait_s`, the stop's store budget."""
    py = [sys.executable, "-m", "monitord"]
    if stop_wait_s is not None:
        py = [sys.executable, "-c", _WITH_BUDGET, str(stop_wait_s)]
    with open(log, "wb") as out, open(journal or os.devnull, "wb") as err:
        return subprocess.Popen(
            [*py, "run", "--console", "--config", str(cfg)],
            env=env, stdout=out, stderr=err if journal else subprocess.STDOUT, cwd=REPO,
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


async def test_a_stop_during_a_stall_says_what_it_loses_and_exits(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    """SIGTERM while the disk hangs: the stop waited for the hung writer thread for ever
    (systemd SIGKILLed it after TimeoutStopSec, 20 s, and nothing said what was lost).
    Now it says at CRITICAL, on the journal and the console, what it held and loses,
    and exits; the store the disk releases afterwards is intact."""
    so = slowdisk.build(tmp_path / "shim")
    gate = tmp_path / "disk-hangs"
    ox = PtyPort()
    await ox.open()
    cfg = tmp_path / "c.toml"
    cfg.write_text(_config(tmp_path, mosquitto, mqtt_prefix, ox.port))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    out, err = tmp_path / "console.log", tmp_path / "journal.log"
    env = child_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                    **slowdisk.env(so, 120_000, gate=gate))  # fmt: skip
    proc = _start(cfg, env, out, err)

    def logs() -> str:
        return out.read_text() + err.read_text()

    async def until(pred: Callable[[], bool], what: str, feed: int) -> None:
        deadline = time.monotonic() + 15
        while not pred():
            assert time.monotonic() < deadline, f"not within 15 s: {what}\n{logs()[-3000:]}"
            ox.write(masimo_line(feed))
            await asyncio.sleep(0.2)

    try:
        await asyncio.to_thread(_wait_ready, sock, proc, err)
        await until(lambda: "SpO2 97%" in out.read_text(), "a reading stored", 97)
        gate.touch()  # the disk hangs from here
        await until(lambda: "(NOT STORED YET)" in out.read_text(), "the held alarm", 80)
        await until(lambda: "TECHNICAL ALARM store.stalled" in err.read_text(), "stall", 80)
        proc.send_signal(signal.SIGTERM)
        # Well below the unit's TimeoutStopSec=20s: before the fix it never exited.
        rc = await asyncio.to_thread(proc.wait, 10)
        assert rc == 0, logs()[-3000:]
    finally:
        gate.unlink(missing_ok=True)  # the disk answers again
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        await ox.close()
    counts = r"(\d+) alert event\(s\), (\d+) session event\(s\) and (\d+) reading\(s\)"
    lost = re.compile(counts + " held in memory are LOST")
    journal = [ln for ln in err.read_text().splitlines() if lost.search(ln)]
    console = [ln for ln in out.read_text().splitlines() if lost.search(ln)]
    assert journal and journal[0].startswith("CRITICAL"), err.read_text()[-3000:]
    assert console and console[0].startswith("!!!"), out.read_text()[-3000:]
    m = lost.search(journal[0])
    assert m is not None and int(m[1]) >= 1 and int(m[3]) >= 1, journal[0]
    assert "Traceback" not in logs()
    # The shim hangs after the real sync: the hung write is on disk, and the next open
    # finds it committed, whole; nothing said lost beyond it was written after.
    in_write = re.search(f"of them, {counts} are in the write", journal[0])
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = db.execute("SELECT count(*) FROM records WHERE type = 'alert'").fetchone()[0]
    assert stored == (int(in_write[1]) if in_write else 0), journal[0]
    status = await asyncio.to_thread(_status, cfg)
    assert "chair-1" in status, status


async def test_a_stop_whose_final_checkpoint_hangs_says_so_and_exits(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    """SIGTERM, everything written, and the disk hangs in the close's last checkpoint (the
    store's main file's sync: the shim hangs the syncs of that file alone, so every commit
    of the stop goes through). The close ran on the main thread and never returned: the
    daemon sat, silent, until systemd's SIGKILL. Now it gives the close up within the
    stop's budget, says at CRITICAL what state the store is left in, and exits 0; once the
    disk answers, the store opens clean with everything the stop committed."""
    so = slowdisk.build(tmp_path / "shim")
    gate = tmp_path / "disk-hangs"
    ox = PtyPort()
    await ox.open()
    cfg = tmp_path / "c.toml"
    cfg.write_text(_config(tmp_path, mosquitto, mqtt_prefix, ox.port))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    out, err = tmp_path / "console.log", tmp_path / "journal.log"
    store = tmp_path / "store.sqlite"
    env = child_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                    **slowdisk.env(so, 120_000, gate=gate, only=store))  # fmt: skip
    proc = _start(cfg, env, out, err, stop_wait_s=STOP_WAIT_S)
    try:
        await asyncio.to_thread(_wait_ready, sock, proc, err)
        deadline = time.monotonic() + 15
        while "SpO2 97%" not in out.read_text():
            assert time.monotonic() < deadline, (out.read_text() + err.read_text())[-3000:]
            ox.write(masimo_line(97))
            await asyncio.sleep(0.2)
        gate.touch()  # from here the main file's syncs hang: a checkpoint's
        proc.send_signal(signal.SIGTERM)
        # A hang test, not a speed test: before the fix it did not exit before the shim's
        # 120 s. (Stopped by the daemon's own budget, STOP_WAIT_S here.)
        rc = await asyncio.to_thread(proc.wait, 60)
        assert rc == 0, (out.read_text() + err.read_text())[-3000:]
    finally:
        gate.unlink(missing_ok=True)  # the disk answers again
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        await ox.close()
    journal, console = err.read_text(), out.read_text()
    said = [ln for ln in journal.splitlines() if "final checkpoint" in ln]
    assert said and said[0].startswith("CRITICAL"), journal[-3000:]
    assert "nothing held in memory is lost" in said[0], said[0]
    assert "redone at the next open" in said[0], said[0]
    assert any(ln.startswith("!!!") and "final checkpoint" in ln for ln in console.splitlines())
    assert "Traceback" not in journal + console
    # The checkpoint did not finish: what the stop committed is still in the WAL, and the
    # next open takes it from there, whole (the clean stop's row included).
    assert os.stat(f"{store}-wal").st_size > 0
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        readings = db.execute("SELECT count(*) FROM records WHERE type = 'reading'").fetchone()
        stopped = db.execute("SELECT count(*) FROM state WHERE key = 'daemon/stopped'").fetchone()
    assert readings[0] >= 1 and stopped == (1,), (readings, stopped)
    status = await asyncio.to_thread(_status, cfg)
    assert "chair-1" in status, status
