"""A store restored from a backup sends again what it had not yet delivered when the
backup was taken, though the servers took it since (the delivered marks are as old as
the copy). Against the real InfluxDB and broker: InfluxDB keeps one point per record (a
re-sent row has its stored timestamp and tags, so it overwrites itself), and the alert
events go out again with their original ids, events and times, so a station tells them
from new ones (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitord.config import StorageConfig, load_config
from monitord.daemon import Daemon
from monitord.outbox import Outbox
from tests.delivery.helpers import alert, reading
from tests.kit import Observer, eventually
from tests.servers import Influxd, Mosquitto, json_int

SITE = "restore-test"


def store_with_backlog(path: Path) -> int:
    """A store whose records no server has taken yet; returns how many readings."""
    ob = Outbox(path, StorageConfig(path=path))
    n = 0
    for i in range(6):
        ob.add_readings([reading(i * 10 + j) for j in range(10)], {"chair-1": "s-1"})
        ob.add_alert_events([alert(i)])
        ob.commit()
        n += 10
    ob.close()
    return n


def backup(cfg_file: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "backup", "-c", str(cfg_file), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def restore(copy: Path, store: Path) -> None:
    """The card dies; the new one gets the copy in the store's place."""
    for p in store.parent.iterdir():
        if p.name.startswith(store.name):
            p.unlink()
    shutil.copy(copy, store)


async def deliver(cfg_file: Path, mosquitto: Mosquitto, base: str) -> list[tuple[Any, ...]]:
    """Run the daemon until its backlog is delivered; the alert events the broker got."""
    daemon = Daemon(load_config(cfg_file))
    async with Observer(mosquitto, [f"{base}/alerts/events"]) as obs:
        task = asyncio.create_task(daemon.run())
        try:

            def drained() -> bool:
                ob = daemon.outbox
                return ob.backlog("influx") == 0 and ob.backlog("mqtt") == 0

            await eventually(drained, 30, "the backlog delivered")
            await asyncio.sleep(0.5)  # a late copy of an event would arrive now
        finally:
            daemon.stop_event.set()
            await asyncio.wait_for(task, 20)
    return [(p["alert_id"], p["event"], p["time"]) for p in obs.of("alerts/events")]


def points(influxd: Influxd, db: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    vitals = influxd.rows("SELECT * FROM vitals", db)
    alerts = influxd.rows("SELECT * FROM alerts", db)
    return (
        sorted((json_int(r["time"]), r["device"], str(sorted(r.items()))) for r in vitals),
        sorted((json_int(r["time"]), r["alert_id"], r["event"]) for r in alerts),
    )


async def test_a_restored_backup_resends_its_backlog_without_duplicates(
    tmp_path: Path, influxd: Influxd, influx_db: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    store = tmp_path / "outbox.sqlite"
    readings = store_with_backlog(store)
    master, slave = os.openpty()  # the chair's oximeter adapter, silent
    cfg_file = tmp_path / "monitord.toml"
    cfg_file.write_text(
        f'[site]\nid = "{SITE}"\n'
        f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"\n'
        f'[influx]\nurl = "{influxd.url}"\napi = "v1"\ndatabase = "{influx_db}"\n'
        f'[storage]\npath = "{store}"\n'
        '[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{os.ttyname(slave)}"\n'
    )
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    copy = tmp_path / "backup.sqlite"
    r = backup(cfg_file, copy)
    assert r.returncode == 0, r
    assert f", {readings + 6} records, " in r.stdout
    assert f"outbox influx: {readings + 6} pending, outbox mqtt: 6 pending" in r.stdout
    try:
        first = await deliver(cfg_file, mosquitto, base)
        delivered = points(influxd, influx_db)
        assert len(delivered[0]) == readings and len(delivered[1]) == 6
        assert len(first) == 6
        # The backup was taken before that delivery.
        restore(copy, store)
        again = await deliver(cfg_file, mosquitto, base)
    finally:
        os.close(slave)
        os.close(master)
    # Sent again, as they were: the same ids, events and times.
    assert again == first
    # One point per record still: each re-sent row overwrote itself.
    assert points(influxd, influx_db) == delivered
