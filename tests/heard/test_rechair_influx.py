"""A Pi moved to another chair with InfluxDB enabled: the start's release of the old chair's
MQTT queue (monitord/storeroutes.py) must leave its InfluxDB queue alone, as its WARNING
and docs/operations.md say ("with InfluxDB, go there under the old id"). A real `monitord
run` as chair-1 (the broker and InfluxDB both away: a Masimo oximeter on a pty raises
spo2.very_low), then as chair-2 on the same store with both back: a real mosquitto with
the shipped ACL, a real influxd (1.x).
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess, Store, influx_v1
from tests.heard.heard_kit import backlog_of, chair_config, raise_queued
from tests.kit import eventually
from tests.servers import Influxd, free_port

NO_INFLUX = "[influx]\nenabled = false\n"


def with_influx(cfg: Path, section: str) -> Path:
    text = cfg.read_text()
    assert NO_INFLUX in text
    cfg.write_text(text.replace(NO_INFLUX, section))
    return cfg


def alert_chairs(influxd: Influxd, db: str) -> list[str]:
    res = influxd.query('SELECT * FROM "alerts" GROUP BY "chair"', db)
    results = res["results"]
    assert isinstance(results, list)
    return [str(s["tags"]["chair"]) for r in results for s in r.get("series", [])]


def influx_backlog(store: Store) -> int:
    rows = store._q("SELECT count(*) FROM pending WHERE sink = 'influx' AND chair = 'chair-1'")
    return int(rows[0][0]) if rows else -1


async def test_old_chairs_alert_events_still_go_to_influx(
    tmp_path: Path, broker: AclMosquitto, influxd: Influxd, influx_db: str
) -> None:
    store = Store(tmp_path / "outbox.sqlite")
    dead = influx_v1(influxd, influx_db).replace(influxd.url, f"http://127.0.0.1:{free_port()}")
    broker.stop()
    first = DaemonProcess(
        with_influx(chair_config(tmp_path, broker, "chair-1"), dead), tmp_path / "first.log"
    )
    await raise_queued(tmp_path, store, first, "chair-1")
    assert "chair-1" not in alert_chairs(influxd, influx_db)
    assert influx_backlog(store) > 0

    broker.start()
    cfg2 = with_influx(chair_config(tmp_path, broker, "chair-2"), influx_v1(influxd, influx_db))
    second = DaemonProcess(cfg2, tmp_path / "second.log")
    second.start()
    try:
        await eventually(
            lambda: "chair-1" in alert_chairs(influxd, influx_db), 30, "chair-1's in InfluxDB"
        )
        # Every record of chair-1 (its readings too) drained to InfluxDB, none released.
        await eventually(lambda: influx_backlog(store) == 0, 30, "chair-1's InfluxDB queue")
    finally:
        assert second.stop() == 0, second.output()
    line = next((ln for ln in second.output().splitlines() if "of chair 'chair-1'" in ln), "")
    assert "WARNING" in line and "go to InfluxDB under that id" in line, second.output()
    assert backlog_of(store, "chair-1") == 0
