"""Issue 12, defect 6: `storage.max_mb` and `retention_days` are applied while the daemon
runs.

A `monitord run` subprocess reads a Masimo oximeter on a pty, with a real influxd 1.6 and
a real mosquitto. Proves:
- InfluxDB down, 4x the budget of readings sent: the store stays within `max_mb` (the
  whole file), the oldest undelivered readings are dropped and said loudly (CRITICAL
  line, `dropped_readings` counter, technical alarm in `monitord status`), no alert event
  is dropped, and the account balances: sent = kept + dropped; once InfluxDB is back every
  kept reading arrives;
- retention: delivered readings are deleted once past `retention_days`; alert events not
  yet delivered (the broker is down) are kept past it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from monitord.store.checkpoint import CHECKPOINT_EVERY_S
from tests.e2e.e2e_kit import (
    CHAIR,
    COUNTING_COMMIT_S,
    FAST_SPO2_ALERT,
    SITE,
    DaemonProcess,
    Oximeter,
    Store,
    in_thread,
    influx_v1,
    mqtt_section,
    warm_up,
    whole_second,
    write_config,
)
from tests.faults.storekit import monitord
from tests.kit import Observer, eventually
from tests.servers import Influxd, Mosquitto, json_int

BUDGET_MB = 0.25


def influx_count(influxd: Influxd, db: str) -> int:
    rows = influxd.rows('SELECT count("valid") FROM vitals', db)
    return json_int(rows[0]["count"]) if rows else 0


def on_disk(store: Path) -> int:
    """Bytes of the database file. (Its WAL is checkpointed once past 4 MiB and cut back to
    that size when reused; monitord/store/checkpoint.py, docs/reliability.md.)"""
    return os.path.getsize(store) if os.path.exists(store) else 0


async def feed(ox: Oximeter, spo2: float, n: int, pause_s: float) -> None:
    """`n` lines stamped by a monitor whose clock is a day off: the daemon then stamps them
    with its receive time (microseconds), so fast lines never share an InfluxDB stamp."""
    for _ in range(n):
        await ox.unread_under()  # the pty drops what its full queue cannot take
        await ox.send(spo2, whole_second() - timedelta(days=1))
        await asyncio.sleep(pause_s)


async def feed_until(ox: Oximeter, spo2: float, store: Store, event: str) -> None:
    """Lines at 5 a second, as `feed`, until spo2.very_low's `event` is stored (alert
    events are committed at once): a desaturation as long as the rule needs, not a fixed
    3 s (its `for_s` and `clear_for_s` are 1 s here)."""

    def stored() -> bool:
        return any(
            e["rule"] == "spo2.very_low" and e["event"] == event for e in store.alert_events()
        )

    for _ in range(150):  # 30 s
        await feed(ox, spo2, 1, 0.2)
        if stored():
            return
    raise AssertionError(f"spo2.very_low {event} not stored within 30 s of SpO2 {spo2:g}")


async def test_budget_holds_with_influx_down_and_drops_readings_loudly_never_alerts(
    tmp_path: Path, influxd: Influxd, influx_db: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    cfg = write_config(
        tmp_path,
        influx=influx_v1(influxd, influx_db),
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        extra=(
            f"max_mb = {BUDGET_MB}\nprune_interval_s = 1\n"
            f"commit_interval_s = {COUNTING_COMMIT_S}\n" + FAST_SPO2_ALERT
        ),
    )
    path = tmp_path / "outbox.sqlite"
    store = Store(path)
    budget = int(BUDGET_MB * 1024 * 1024)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    await in_thread(influxd.stop)
    try:
        async with (
            Observer(mosquitto, [f"{base}/alerts/events"]) as nurse,
            Oximeter(tmp_path) as ox,
        ):
            daemon.start()
            try:
                warm_sent, warm_stored = await warm_up(ox, store)
                assert warm_stored, daemon.output()
                largest = 0
                # About 4x the budget of readings, an alarm in the middle.
                for _ in range(8):
                    await feed(ox, 97.0, 400, 0.002)
                    largest = max(largest, on_disk(path))
                    if ox.sent > 1600 and not nurse.of("alerts/events"):
                        await feed_until(ox, 80.0, store, "raised")
                        await feed_until(ox, 97.0, store, "cleared")
                sent = warm_stored + ox.sent - warm_sent
                await eventually(
                    lambda: "DROPPED" in daemon.output(), 30, "readings dropped for the budget"
                )
                try:
                    await eventually(lambda: sum(account(store)) >= sent, 30, "account")
                except AssertionError as e:  # seen under load only (four CI runs beside
                    # helpers: the pty dropped lines the daemon had not read in time, fed
                    # 30x a Rad-8's rate; now paced on its queue): what was short
                    st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
                    raise AssertionError(
                        f"{e}: sent {sent}, (kept, dropped) {account(store)}\n{st.stdout}"
                    ) from None
                # The file shrinks when a checkpoint writes the vacuumed size back: the
                # one the prune asks for, or failing that (a reader's snapshot in the
                # way) the checkpointer's timer, at least every CHECKPOINT_EVERY_S.
                await eventually(
                    lambda: on_disk(path) <= budget,
                    CHECKPOINT_EVERY_S + 30,
                    "store within budget",
                )
                st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
                kept, lost = account(store)
                events = store.alert_events()

                await in_thread(influxd.start)  # InfluxDB back: everything kept arrives
                await eventually(lambda: store.backlog("influx") == 0, 60, "influx backlog")
                arrived = influx_count(influxd, influx_db)
                lost_final = account(store)[1]
                published = nurse.of("alerts/events")
                # read after `published`: an event is stored before it is published, and the
                # silent oximeter may raise tech.device_lost meanwhile
                events = store.alert_events()
            finally:
                rc = daemon.stop()
    finally:
        influxd.ensure_running()
    out = daemon.output()
    print(
        f"sent {sent} kept {kept} dropped {lost} arrived {arrived} budget {budget} "
        f"largest-on-disk-seen {largest} events {len(events)}"
    )
    assert rc == 0 and "Traceback" not in out, out[-3000:]
    assert kept + lost == sent  # nothing vanished unaccounted
    # Every line sent is in InfluxDB or counted as dropped (a prune may still drop a few
    # after `kept` was counted, until InfluxDB is back).
    assert lost > 0 and arrived + lost_final == sent
    critical = [ln for ln in out.splitlines() if ln.startswith("CRITICAL") and "DROPPED" in ln]
    assert critical, out[-3000:]
    assert "TECHNICAL ALARM store.budget" in st.stdout and "dropped_readings=" in st.stdout, st
    # No alert event was dropped: all those published (raised and cleared) are stored.
    assert {(p["alert_id"], p["event"]) for p in published} <= {
        (e["alert_id"], e["event"]) for e in events
    }
    assert {"raised", "cleared"} <= {e["event"] for e in events}


def account(store: Store) -> tuple[int, int]:
    """(readings kept, readings dropped), read in one snapshot of the store."""
    rows = store._q(
        "SELECT (SELECT count(*) FROM records WHERE type = 'reading'), "
        "(SELECT coalesce(max(value), 0) FROM counters WHERE name = 'dropped_readings')"
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


async def test_retention_deletes_delivered_rows_and_keeps_undelivered_alerts(
    tmp_path: Path, influxd: Influxd, influx_db: str, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    # Past it a moment after the feed ends (the prune runs each second); the alert events
    # are older still by then, the raised one by the recovery's length. A row goes once
    # both its stamp and its commit are past it, so the proof holds for any value above
    # the first loop's poll (0.3 s) plus a group commit (0.5 s): 2 s, not 4, is 2 s less
    # waiting at the end for the same proof.
    retention_s = 2.0
    await in_thread(mosquitto.stop)  # alert events cannot be delivered to the station
    cfg = write_config(
        tmp_path,
        influx=influx_v1(influxd, influx_db),
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        # Group commits at 0.5 s (not 5 s): the first reading is seen stored, and the
        # readings go to InfluxDB, a moment after they are read.
        extra=f"retention_days = {retention_s / 86400}\nprune_interval_s = 1\n"
        f"commit_interval_s = {COUNTING_COMMIT_S}\n" + FAST_SPO2_ALERT,
    )
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    try:
        async with Oximeter(tmp_path) as ox:
            daemon.start()
            try:
                for _ in range(100):  # until the daemon reads the port
                    await ox.send(97.0, whole_second())
                    await asyncio.sleep(0.3)
                    if store.readings():
                        break
                before_read = ox.sent  # the first stored among them: every later one is
                await feed(ox, 97.0, 10, 0.2)
                await feed_until(ox, 80.0, store, "raised")
                await feed_until(ox, 97.0, store, "cleared")
                await eventually(lambda: len(store.alert_events()) >= 2, 30, "alert events")
                await eventually(lambda: store.backlog("influx") == 0, 30, "readings delivered")
                delivered = influx_count(influxd, influx_db)
                await eventually(lambda: store.readings() == 0, 60, "delivered readings expired")
                events = store.alert_events()
            finally:
                rc = daemon.stop()
    finally:
        mosquitto.ensure_running()
    out = daemon.output()
    assert rc == 0 and "Traceback" not in out, out[-3000:]
    assert delivered >= ox.sent - before_read + 1
    # Alert events pending for the (down) broker outlive their retention.
    assert {"raised", "cleared"} <= {e["event"] for e in events}
