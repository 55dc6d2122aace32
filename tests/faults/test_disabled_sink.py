"""A disabled sink holds nothing in the store (docs/reliability.md, "A disabled sink holds
nothing").

Before: every reading was queued for InfluxDB and every alert event for MQTT whatever
`[influx] enabled` / `[mqtt] enabled` said. Nothing drained those queues, so with a sink
disabled the store filled to `storage.max_mb` with "undelivered" rows and the prune
dropped readings with a false CRITICAL `store.budget` ("check InfluxDB"), in the audit's
run 4,695 readings after a few minutes at 0.25 MB (days at the default 512 MB).

Now rows are queued only for the enabled sinks, and rows a previous run left queued for a
sink that is now disabled are released at start with one INFO line giving the count.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import SINKS, Outbox
from tests.e2e.e2e_kit import (
    COUNTING_COMMIT_S,
    DaemonProcess,
    Oximeter,
    Store,
    in_thread,
    warm_up,
    whole_second,
    write_config,
)
from tests.faults.storekit import monitord
from tests.kit import eventually

BUDGET_MB = 0.25


def dead_influx() -> str:
    """An [influx] section whose server never answers (a closed loopback port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f'\n[influx]\nurl = "http://127.0.0.1:{port}"\napi = "v1"\ndatabase = "x"\n'


def dropped(store: Store) -> int:
    rows = store._q("SELECT coalesce(max(value), 0) FROM counters WHERE name = 'dropped_readings'")
    return int(rows[0][0]) if rows else 0


async def test_no_backlog_and_no_budget_alarm_with_both_sinks_disabled(tmp_path: Path) -> None:
    extra = f"max_mb = {BUDGET_MB}\nprune_interval_s = 1\ncommit_interval_s = {COUNTING_COMMIT_S}\n"
    cfg = write_config(tmp_path, extra=extra)  # [influx] and [mqtt] enabled = false
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            await warm_up(ox, store)
            # About 4x the budget of readings (as tests/faults/test_store_budget.py).
            for _ in range(8):
                for _ in range(400):
                    await ox.send(97.0, whole_second())
                    await asyncio.sleep(0.002)
                assert store.backlog("influx") == 0 and store.backlog("mqtt") == 0
            await eventually(lambda: store.readings() > 0, 30, "readings stored")
            await asyncio.sleep(3)  # a few prunes at 1 s
            st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
        finally:
            rc = daemon.stop()
    out = daemon.output()
    print(st.stdout, out[-2000:])
    assert rc == 0 and "Traceback" not in out
    assert store.backlog("influx") == 0 and store.backlog("mqtt") == 0
    assert dropped(store) == 0 and "DROPPED" not in out and "CRITICAL" not in out
    assert "store.budget" not in st.stdout


async def test_a_backlog_left_for_a_sink_now_disabled_is_released_at_start(
    tmp_path: Path,
) -> None:
    cfg = write_config(tmp_path, influx=dead_influx(), extra="commit_interval_s = 0.2\n")
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            await warm_up(ox, store)
            for _ in range(30):
                await ox.send(97.0, whole_second())
                await asyncio.sleep(0.05)
            await eventually(lambda: store.backlog("influx") >= 20, 30, "influx backlog")
        finally:
            assert daemon.stop() == 0
        left = store.backlog("influx")
        # The admin turns InfluxDB off; the queue nobody will drain goes.
        cfg.write_text(cfg.read_text().replace('api = "v1"', 'api = "v1"\nenabled = false'))
        again = DaemonProcess(cfg, tmp_path / "daemon2.log")
        again.start()
        try:
            await eventually(lambda: "released" in again.output(), 30, "release line")
            # Then started in full: a SIGTERM before its handlers are set kills it (-15).
            await eventually(lambda: " ready: " in again.output(), 30, "ready")
        finally:
            assert again.stop() == 0
    line = next(ln for ln in again.output().splitlines() if "released" in ln)
    print(line)
    assert line.startswith("INFO") and f"released {left} queued deliveries" in line
    assert "influx" in line
    assert store.backlog("influx") == 0 and store.readings() >= left  # kept as history


def test_outbox_routes_only_to_enabled_sinks(tmp_path: Path) -> None:
    """The store itself: after `route_to`, nothing is queued for a disabled sink."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from monitord.models import AlertEvent, Kind, Reading

    box = Outbox(tmp_path / "o.sqlite", StorageConfig(path=tmp_path / "o.sqlite"))
    now = datetime.now(UTC)
    reading = Reading(
        chair="c",
        device="d",
        kind=Kind.SPO2,
        values={"spo2_pct": 97.0},
        measured_at=now,
        received_at=now,
    )
    box.add_readings([reading], {})
    box.commit()
    assert box.backlog("influx") == 1
    assert box.route_to(["mqtt"]) == 1  # the leftover released
    box.add_readings([reading], {})
    event = AlertEvent(
        t=now.timestamp(), chair="c", rule="r", event="raised", priority="high",
        kind="physiological", alert_id="a", phase="idle", value={}, message="m",
    )  # fmt: skip
    box.add_alert_events([event])
    box.commit()
    assert box.backlog("influx") == 0 and box.backlog("mqtt") == 1
    # Both enabled, given as a generator (as the daemon does): both queues fill.
    assert box.route_to(s for s in SINKS) == 0
    box.add_alert_events([replace(event, alert_id="b")])
    box.commit()
    assert box.backlog("influx") == 1 and box.backlog("mqtt") == 2
    box.close()
