"""Writes `outbox-v3.sqlite`, the schema v3 store the v3 -> v4 migration test opens.

It must run against the store code that wrote v3 (main at d9b47eb), not this one:

    git archive d9b47eb | tar -x -C /tmp/v3 && cd /tmp/v3 && \
        PYTHONPATH=/tmp/v3 python tests/delivery/data/make_v3_store.py OUT.sqlite

Fixed times (no wall clock), two chairs, readings, alert and session events; some rows
delivered to InfluxDB, some alert events delivered to MQTT, one reading quarantined by
InfluxDB, the rest pending: what a daemon stopped mid-outage leaves behind.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def reading(i: int, chair: str) -> Reading:
    at = T0 + timedelta(seconds=i)
    if i % 3 == 0:
        vals: dict[str, float | None] = {"sys_mmHg": 120.0 + i, "dia_mmHg": 80.0}
        return Reading(chair, "bp", Kind.BP, vals, at, at, device_time=at, stored=i in (3, 15))
    if i % 3 == 1:
        return Reading(chair, "hr", Kind.HR, {"hr_bpm": 60.0 + i}, at, at, contact=True)
    return Reading(chair, "spo2", Kind.SPO2, {"spo2_pct": 90.0 + i % 10}, at, at)


def alert(i: int, chair: str) -> AlertEvent:
    return AlertEvent(
        t=T0.timestamp() + 100 + i,
        chair=chair,
        rule="spo2.low",
        event=("raised", "cleared")[i % 2],
        priority="medium",
        kind="physiological",
        alert_id=f"a-{chair}-{i:03d}",
        phase="dosing",
        value={"spo2_pct": 88.0},
        message=f"SpO2 88 < 90 ({i})",
    )


def main(out: Path) -> None:
    ob = Outbox(out, StorageConfig(path=out))
    chairs = ("chair-1", "chair-2")
    ob.add_session_events(
        [SessionEvent(T0.timestamp(), c, "start", "esketamine", f"s-{c}") for c in chairs]
    )
    for i in range(24):
        c = chairs[i % 2]
        ob.add_readings([reading(i, c)], {c: f"s-{c}"})
        if i % 4 == 3:
            ob.add_alert_events([alert(i, chairs[i // 4 % 2])])
        ob.commit()
    influx = [r.id for r in ob.fetch("influx", 1000)]
    mqtt = [r.id for r in ob.fetch("mqtt", 1000)]
    ob.mark_delivered("influx", influx[:9])  # an outage after the first rows
    ob.quarantine("influx", [(influx[12], "HTTP 400: field type conflict", "vitals x=1")])
    ob.mark_delivered("mqtt", mqtt[:2])
    end = SessionEvent(T0.timestamp() + 30, "chair-1", "end", "esketamine", "s-chair-1")
    ob.add_session_events([end])
    ob.commit()
    assert ob.schema_version() == 3
    ob.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
