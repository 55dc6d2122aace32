"""A daemon stopped and started again while the disk under its store is full: the alarm
and the session open at the stop go on.

An intact store that cannot be written at a start (here: no room for SQLite's -shm
beside a store closed cleanly) is kept where it is and the run works from memory
(`store.memory`, tests/faults/test_full_disk_at_start.py). That run started every chair
afresh: the high `spo2.very_low` nobody had acknowledged went from the station's active
set without a `cleared`, and the session with it (its `session.no_baseline`; the nurse's
next command refused as "no session"), while the file holding them was there to read.
Nothing said so: the alarm said only that nothing would be kept across the *next*
restart. Now the chairs start from the kept store's engine snapshots (read-only), as
after any restart, and `store.memory` says they did (monitord/storeresume.py).

A real `monitord run` (stopped with SIGTERM, as `systemctl restart` does), a Masimo
simulator on a real pty, the real mosquitto, a real tmpfs filled to ENOSPC by another file.
The store-level cases (a store SQLite cannot read without the -wal it cannot open, a file
that is no store) are at the end; the 0.1.0 store: tests/faults/test_migration_no_room.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitord import storememory
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.base import Durability
from monitord.storeopen import open_store
from monitord.storeresume import resume
from monitord.techalarm import TechAlarms
from tests.e2e.e2e_kit import (
    CHAIR,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    mqtt_section,
    port_path,
)
from tests.faults.storekit import die_with_wal, fill, tmpfs
from tests.faults.test_mqtt_commands import cmd, connects, publish
from tests.kit import Observer, eventually
from tests.servers import Mosquitto


def config(tmp: Path, store: Path, broker: Mosquitto, prefix: str) -> Path:
    """One chair, one Masimo; the store at `store`; spo2.very_low confirmed in 1 s."""
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
log_level = "INFO"
[site]
id = "{SITE}"
{mqtt_section(broker, prefix)}
[influx]
enabled = false
[storage]
path = "{store}"
commit_interval_s = 0.5
[alerts."spo2.very_low"]
for_s = 1
[[chairs]]
id = "{CHAIR}"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port_path(tmp)}"
"""
    )
    return cfg


def rules(active_set: dict[str, Any]) -> dict[str, str]:
    return {a["rule"]: a["alert_id"] for a in active_set["alerts"]}


async def test_a_restart_on_a_full_disk_resumes_the_open_alarm_and_session(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    with tmpfs(tmp_path / "disk", "8m") as disk:
        store = disk / "outbox.sqlite"
        cfg = config(tmp_path, store, mosquitto, mqtt_prefix)
        first = DaemonProcess(cfg, tmp_path / "first.log")
        async with Oximeter(tmp_path) as ox, Observer(mosquitto, [f"{base}/alerts/active"]) as st:
            first.start()
            try:
                await eventually(lambda: connects(first) == 1, 30, "first daemon connected")
                await publish(mosquitto, f"{base}/cmd/session", cmd("start", protocol="esketamine"))
                await publish(mosquitto, f"{base}/cmd/session", cmd("dose_start"))
                async with LiveFeed(ox, spo2=80.0):  # the patient desaturates
                    await eventually(
                        lambda: any(
                            {"spo2.very_low", "session.no_baseline"} <= rules(a).keys()
                            for a in st.of("alerts/active")
                        ),
                        30,
                        "spo2.very_low raised in the session",
                    )
                before = rules(st.of("alerts/active")[-1])
            finally:
                assert first.stop() == 0, first.output()
            fill(disk)
            published = len(st.of("alerts/active"))
            second = DaemonProcess(cfg, tmp_path / "second.log")
            second.start()
            try:
                await eventually(lambda: connects(second) == 1, 30, "second daemon connected")
                await eventually(
                    lambda: len(st.of("alerts/active")) > published, 30, "active set published"
                )
                after = rules(st.of("alerts/active")[published])
            finally:
                assert second.stop() == 0, second.output()
    log = second.output()
    assert "store.memory" in log and "on a full disk" in log, log
    assert "Traceback" not in log, log
    assert before.items() <= after.items(), (
        f"after the restart on the full disk the station's active set is {after}, "
        f"before it was {before}: the open alarm and session dropped without a `cleared`"
    )
    assert "resumed from it (chair-1)" in log, log


def engine_row(path: Path) -> None:
    """A store holding chair-1's engine snapshot and status row, closed."""
    ob = Outbox(path, StorageConfig(path=path))
    ob.put_state("engine/chair-1", {"chairs": {}}, durability=Durability.SYNC)
    ob.put_state("chair/chair-1", {"phase": "dosing"}, durability=Durability.SYNC)
    ob.close()


def test_only_the_chairs_resume_rows_are_taken(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    engine_row(path)
    mem = Outbox(tmp_path / "mem.sqlite", StorageConfig(path=tmp_path / "mem.sqlite"), memory=True)
    assert resume(path, mem).endswith("resumed from it (chair-1)")
    assert mem.get_state("engine/chair-1") == {"chairs": {}}
    assert mem.get_state("chair/chair-1") is None  # the last run's status is not this one's
    # A file that is no monitord store (schema v0: SQLite's new file) is not read, and said.
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 0")
    mem = Outbox(tmp_path / "mem.sqlite", StorageConfig(path=tmp_path / "mem.sqlite"), memory=True)
    said = resume(path, mem)
    assert "schema v0, not a monitord store" in said and "started them afresh" in said, said
    assert mem.get_state("engine/chair-1") is None


def test_a_store_with_commits_in_its_wal_is_not_read_without_them(tmp_path: Path) -> None:
    """A daemon killed (its last commits in the -wal) whose -shm is gone, on a full disk:
    SQLite cannot read the store read-only, and the file without its -wal is an older
    store (an alarm acknowledged since would be unacknowledged again): not read."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        path = disk / "outbox.sqlite"
        engine_row(path)
        die_with_wal(path, 0, 20)
        path.with_name("outbox.sqlite-shm").unlink()
        fill(disk)
        alarms = TechAlarms()
        ob = open_store(StorageConfig(path=path), alarms)
        try:
            assert ob.memory and ob.get_state("engine/chair-1") is None
        finally:
            ob.close()
        said = alarms.active["store.memory"]["text"]
        assert "could not be read from it" in said and "started them afresh" in said, said


def test_a_row_that_cannot_be_read_resumes_no_chair(tmp_path: Path) -> None:
    """A resume row whose value is no JSON (garbled in a page `quick_check` passes, or
    edited by hand) after others that are: the rows before it were left in the store in
    memory, chair-1 resumed, while the alarm said the chairs were started afresh."""
    path = tmp_path / "outbox.sqlite"
    engine_row(path)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO state VALUES ('engine/chair-2', '{\"chairs\": {', 0)")
    mem = Outbox(tmp_path / "mem.sqlite", StorageConfig(path=tmp_path / "mem.sqlite"), memory=True)
    said = resume(path, mem)
    assert "could not be read from it" in said and "started them afresh" in said, said
    assert mem.get_state("engine/chair-1") is None, "chair-1 resumed, the alarm said afresh"


# A daemon's Outbox in a process that ends without closing it: argv store, the value of
# chair-1's engine row then committed (in the -wal only: nothing checkpointed).
DIES_AFTER_ROW = (
    "import json, os, sys; from pathlib import Path\n"
    "from monitord.config import StorageConfig\n"
    "from monitord.outbox import Outbox\n"
    "from monitord.store.base import Durability\n"
    "p = Path(sys.argv[1]); ob = Outbox(p, StorageConfig(path=p))\n"
    "ob._db.execute('PRAGMA wal_autocheckpoint = 0')\n"
    "ob.put_state('engine/chair-1', json.loads(sys.argv[2]), durability=Durability.SYNC)\n"
    "os._exit(0)\n"
)


def test_a_linked_store_is_read_with_the_wal_beside_its_file(tmp_path: Path) -> None:
    """A store linked from elsewhere (storage.path a symlink to a file on another disk)
    whose daemon was killed with its last commits in the -wal: SQLite keeps the -wal
    beside the file, not the link. Looked for beside the link, it was not found and the
    file was read alone: an older engine snapshot resumed as the last one (here: the
    alarm acknowledged in the last commits unacknowledged again)."""
    (tmp_path / "card").mkdir()
    (tmp_path / "lib").mkdir()
    path = tmp_path / "lib" / "outbox.sqlite"
    path.symlink_to(tmp_path / "card" / "outbox.sqlite")
    engine_row(path)
    latest = {"chairs": {"chair-1": {"acknowledged": True}}}
    r = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_ROW, str(path), json.dumps(latest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r
    assert (tmp_path / "card" / "outbox.sqlite-wal").stat().st_size > 0
    mem = Outbox(tmp_path / "mem.sqlite", StorageConfig(path=tmp_path / "mem.sqlite"), memory=True)
    said = resume(path, mem)
    assert mem.get_state("engine/chair-1") == latest, f"an older snapshot resumed: {said}"


def test_a_second_run_in_memory_says_its_state_is_older_than_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two starts in a row on a kept store (the disk still full): the second resumes the
    state of the last stop on the store, before the first run in memory, whose ACKs,
    clears and session ends are in no store (s45 audit). Before, said as if current."""
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    path = tmp_path / "outbox.sqlite"
    engine_row(path)
    cfg = StorageConfig(path=tmp_path / "mem.sqlite")
    first = Outbox(tmp_path / "mem.sqlite", cfg, memory=True)
    assert resume(path, first).endswith("resumed from it (chair-1)")  # the first: current
    storememory.carry(first, path)  # the first run in memory leaves its marker
    start = storememory.since(path)
    assert start is not None
    second = Outbox(tmp_path / "mem2.sqlite", cfg, memory=True)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start))
    assert resume(path, second).endswith(
        f"resumed from it (chair-1), as they were before the run in memory of {when}: an "
        "acknowledgement, clear or session end since then is not in it"
    )
