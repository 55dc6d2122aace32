"""Issue 12, defect 5: a full disk must not throw away what the alert engine has seen.

Real parts throughout: the store lives on a real 16 MiB tmpfs (mounted here: the tests run
as root) that the test fills to ENOSPC with a filler file while a `monitord run`
subprocess reads a Masimo oximeter on a pty, publishes to a real mosquitto and writes to a
real influxd 1.6. While the disk is full the patient desaturates (spo2.very_low raised,
then cleared) and a nurse sends a command. Then the filler is deleted and space returns.

Proves: every line sent is stored and arrives in InfluxDB exactly once; every alert event
the engine emitted (the `raised` included) is stored and published; the full disk raised
a technical alarm (CRITICAL, shown by `monitord status`) that cleared when space came
back; the command sent meanwhile was answered (refused, on cmd/errors) and the next one
after recovery is applied, so the command listener never hangs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitord.outbox import alert_from_body
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
    mosquitto_pub,
    mqtt_section,
    warm_up,
    whole_second,
    write_config,
)
from tests.faults.storekit import fill, monitord, tmpfs
from tests.kit import Observer, eventually
from tests.servers import Influxd, Mosquitto, json_int


def influx_count(influxd: Influxd, db: str) -> int:
    rows = influxd.rows('SELECT count("valid") FROM vitals', db)
    return json_int(rows[0]["count"]) if rows else 0


BULK = 500  # lines per burst


async def bulk(ox: Oximeter, n: int) -> None:
    """`n` lines at up to 200 a second (a 5-ms pause after each), stamped with the current
    wall second. (Never more than 256 a second: the outbox keeps InfluxDB stamps unique
    over the last 256 of a series only, so more than 256 readings within one device second
    would overwrite each other there. At 100 a second the three bursts took 16 s.)"""
    for _ in range(n):
        await ox.send(97.0, whole_second())
        await asyncio.sleep(0.005)


async def feed(ox: Oximeter, spo2: float, seconds: float, hz: float = 5.0) -> None:
    """Lines at `hz`, stamped with the current wall second (a live monitor)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await ox.send(spo2, whole_second())
        await asyncio.sleep(1 / hz)


async def feed_until(ox: Oximeter, spo2: float, shown: Callable[[], bool], what: str) -> None:
    """Lines at 5 a second, as `feed`, until `shown()`: a desaturation (or recovery) as
    long as spo2.very_low's `for_s` (`clear_for_s`) needs, not a fixed 4 s."""
    for _ in range(150):  # 30 s
        await feed(ox, spo2, 0.2)
        if shown():
            return
    raise AssertionError(f"{what} not shown within 30 s of SpO2 {spo2:g}")


async def test_full_disk_loses_nothing_and_raises_a_technical_alarm(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, influxd: Influxd, influx_db: str
) -> None:
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    with tmpfs(tmp_path / "disk", "16m") as disk:
        cfg = write_config(
            tmp_path,
            influx=influx_v1(influxd, influx_db),
            mqtt=mqtt_section(mosquitto, mqtt_prefix),
            extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n" + FAST_SPO2_ALERT,
        )
        text = cfg.read_text().replace(str(tmp_path / "outbox.sqlite"), str(disk / "outbox.sqlite"))
        cfg.write_text(text)
        store = Store(disk / "outbox.sqlite")
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
        async with (
            Observer(
                mosquitto, [f"{base}/alerts/events", f"{base}/cmd/errors", f"{base}/alerts/active"]
            ) as nurse,
            Oximeter(tmp_path) as ox,
        ):
            daemon.start()
            try:
                # Warm up: every line sent from here on must be stored.
                warm_sent, warm_stored = await warm_up(ox, store)
                assert warm_stored, daemon.output()
                await bulk(ox, BULK)
                await eventually(
                    lambda: store.readings() >= warm_stored + ox.sent - warm_sent, 30, "bulk"
                )

                # The disk fills up (another process, a log storm...).
                filler = fill(disk)
                await bulk(ox, BULK)
                await eventually(
                    lambda: "TECHNICAL ALARM store.unwritable" in daemon.output(),
                    20,
                    "technical alarm for the unwritable store",
                )
                await bulk(ox, BULK)
                assert "CRITICAL" in daemon.output()
                stored_at_full = store.readings()

                # The patient desaturates and recovers while nothing can be written: the
                # held batches still show in the retained active set (monitord/storeguard.py).
                def very_low_shown() -> bool:
                    last = nurse.of("alerts/active")[-1:]
                    sets = [b["alerts"] for b in last if isinstance(b, dict)]
                    return any(a["rule"] == "spo2.very_low" for al in sets for a in al)

                await feed_until(ox, 80.0, very_low_shown, "spo2.very_low active")
                await feed_until(ox, 97.0, lambda: not very_low_shown(), "spo2.very_low over")
                # A nurse starts a session: answered at once (refused), never left hanging.
                await mosquitto_pub(
                    mosquitto, f"{base}/cmd/session", json.dumps({"action": "start"})
                )
                await eventually(lambda: nurse.of("cmd/errors"), 20, "answer on cmd/errors")
                refusal = nurse.of("cmd/errors")[0]["error"]
                assert "not applied" in refusal and "store" in refusal
                await feed(ox, 97.0, 1)
                st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
                assert "TECHNICAL ALARM store.unwritable" in st.stdout, st
                assert store.readings() == stored_at_full  # really nothing got through

                # Space returns.
                filler.unlink()
                expected = warm_stored + (ox.sent - warm_sent)
                await eventually(lambda: store.readings() >= expected, 60, "held readings stored")
                await eventually(
                    lambda: "technical alarm store.unwritable cleared" in daemon.output(),
                    30,
                    "store alarm cleared",
                )
                await eventually(lambda: store.backlog("mqtt") == 0, 30, "alert events published")
                try:
                    await eventually(
                        lambda: influx_count(influxd, influx_db) >= expected, 60, "in InfluxDB"
                    )
                except AssertionError:
                    stamps = store.reading_stamps()
                    raise AssertionError(
                        f"influx {influx_count(influxd, influx_db)} expected {expected} "
                        f"stored {len(stamps)} distinct {len(set(stamps))} "
                        f"backlog {store.backlog('influx')}"
                    ) from None
                await eventually(lambda: store.backlog("influx") == 0, 30, "influx backlog empty")

                # The command listener still works: a session start is applied now.
                await mosquitto_pub(
                    mosquitto, f"{base}/cmd/session", json.dumps({"action": "start"})
                )
                await eventually(
                    lambda: (
                        store._q("SELECT count(*) FROM records WHERE type='session'")[0][0] == 1
                    ),
                    20,
                    "session start stored",
                )
                events = [alert_from_body(b) for b in store.alert_events()]

                def published() -> set[tuple[Any, ...]]:
                    return {(p["alert_id"], p["event"], p["rule"]) for p in nurse.of("events")}

                # Every stored alert event is published (the raised included).
                await eventually(
                    lambda: {(e.alert_id, e.event, e.rule) for e in events} <= published(),
                    30,
                    "every stored alert event published",
                )
                stored_n, influx_n = store.readings(), influx_count(influxd, influx_db)
                st_after = await in_thread(lambda: monitord("status", "--config", str(cfg)))
            finally:
                rc = daemon.stop()
    out = daemon.output()
    assert rc == 0, out[-3000:]
    assert "Traceback" not in out and "crashed" not in out, out[-3000:]
    # Figures (docs/reliability.md): sent = stored = delivered.
    print(f"sent {expected} stored {stored_n} influx {influx_n} stored-when-full {stored_at_full}")
    assert stored_n == expected and influx_n == expected
    kinds = [(e.rule, e.event) for e in events]
    assert ("spo2.very_low", "raised") in kinds and ("spo2.very_low", "cleared") in kinds
    assert len(nurse.of("cmd/errors")) == 1  # the later command was not refused
    assert "technical alarm store.unwritable cleared" in st_after.stdout, st_after
