"""`monitord doctor` on a Pi whose daemon runs, against the shipped broker config (real
mosquitto 2.0, `use_username_as_clientid`: the user name is the client id).

Before: doctor logged in as the chair (its login, its round trip, its stations read), and
each login took over the running daemon's connection: the daemon logged "connection ...
lost", its Last Will marked the chair offline at the station, and two doctor runs were the
closes that the daemon reads as two Pis with one chair file (`TAKEN OVER`, the station's
*TWO MONITORS REPORT AS THIS CHAIR*). Now doctor sees the daemon holds the store and
reports the daemon's own connection and stations instead of logging in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.heard.heard_kit import write_config
from tests.heard.test_doctor_round_trip import doctor, publish_online
from tests.kit import eventually


def status(cfg: Path) -> dict[str, Any]:
    run = [sys.executable, "-m", "monitord", "status", "--json", "--config", str(cfg)]
    p = subprocess.run(run, capture_output=True, text=True, timeout=60)
    doc: dict[str, Any] = json.loads(p.stdout) if p.returncode == 0 else {}
    return doc


def mqtt_state(cfg: Path) -> dict[str, Any]:
    mqtt: dict[str, Any] = (status(cfg).get("connections") or {}).get("mqtt") or {}
    return mqtt


def daemon_row(store: Store) -> dict[str, Any]:
    """The daemon's state row, which `monitord status --json` shows as `daemon` (and its
    `connections`): read from the store by the waits, not by a `monitord status` process
    started every poll (a Python start each, tens of them while the idle daemon's row
    waits for its heartbeat)."""
    row = store.state("daemon")
    return row if isinstance(row, dict) else {}


def row_connected(store: Store) -> bool:
    return ((daemon_row(store).get("connections") or {}).get("mqtt") or {}).get(
        "state"
    ) == "connected"


async def test_doctor_leaves_the_running_daemons_connection_alone(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    await publish_online(broker)
    cfg = write_config(tmp_path, broker, username="chair-2", devices=False)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemon.start()
    try:
        await eventually(lambda: row_connected(store), 60, "the daemon connected")
        await eventually(
            lambda: "station-1" in (daemon_row(store).get("stations_online") or []),
            60,
            "the daemon saw the station online",
        )
        # As `monitord status` shows it.
        assert mqtt_state(cfg).get("state") == "connected"
        assert "station-1" in (status(cfg).get("daemon") or {}).get("stations_online", [])
        since = mqtt_state(cfg)["since"]
        # An admin checking twice: enough closes for a "takeover", had doctor logged in.
        runs = [doctor(cfg) for _ in range(2)]
        await asyncio.sleep(2)  # a lost connection is logged within its reconnect
        log = daemon.log.read_text()
        assert "lost" not in log and "taken over" not in log, log
        state = mqtt_state(cfg)
        assert state.get("state") == "connected" and state.get("since") == since, state
        assert not state.get("taken_over"), state
        for _rc, lines, out in runs:
            assert lines["mqtt"].startswith("ok"), out
            assert "the running daemon" in lines["mqtt"], out
            assert "connected as chair-2" in lines["mqtt"], out
            assert lines["mqtt round trip"].startswith("skip"), out
            assert lines["stations"].startswith("ok") and "station-1" in lines["stations"], out
    finally:
        daemon.stop()
    # Stopped, doctor logs in itself again (the login and the round trip).
    _rc, lines, out = doctor(cfg)
    assert "connected as chair-2 over TLS" in lines["mqtt"], out
    assert lines["mqtt round trip chair-2"].startswith("ok"), out


def hold_lock(store: Path) -> subprocess.Popen[str]:
    """A process holding the store's lock as a daemon starting does, before its row."""
    code = (
        "import sys, time; from pathlib import Path; from monitord.storeopen import lock_store;"
        "lock = lock_store(Path(sys.argv[1])); print('held', flush=True); time.sleep(120)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(store)], stdout=subprocess.PIPE, text=True
    )


async def test_doctor_does_not_read_a_stale_daemon_row_as_ok(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """Before: doctor read the state row as the daemon's present state whatever its age
    or writer: a hung daemon (the lock held, nothing written for ten minutes) and a new
    daemon holding the lock before writing its own row (the old one killed) were both
    `ok ... the running daemon (pid OLD) is connected`, exit 0, nothing checked."""
    await publish_online(broker)
    cfg = write_config(tmp_path, broker, username="chair-2", devices=False)
    store = tmp_path / "outbox.sqlite"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemon.start()
    assert daemon.proc is not None
    try:
        await eventually(lambda: row_connected(Store(store)), 60, "the daemon connected")
        assert mqtt_state(cfg).get("state") == "connected"  # as `monitord status` shows it
        # Hung: the process keeps its lock and stops; its last row is ten minutes old.
        daemon.proc.send_signal(signal.SIGSTOP)
        with contextlib.closing(sqlite3.connect(store, timeout=30)) as db, db:
            db.execute(
                "UPDATE state SET updated_ns = updated_ns - 600000000000 WHERE key = 'daemon'"
            )
        rc, lines, out = doctor(cfg)
        assert rc == 1, out
        assert lines["mqtt"].startswith("FAIL") and "has not written its state" in out, out
        assert lines["stations"].startswith("skip"), out
    finally:
        daemon.kill()
    # Killed; a new daemon holds the lock and has not written its row yet.
    holder = hold_lock(store)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        _rc, lines, out = doctor(cfg)
        assert not lines["mqtt"].startswith("ok"), out
        assert f"pid {holder.pid}" in lines["mqtt"], out
        assert lines["stations"].startswith("skip"), out
    finally:
        holder.kill()
        holder.wait(10)
