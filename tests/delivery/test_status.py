"""`monitord status` reads the store the daemon writes (state + history + backlog)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import alert, reading

from monitord.config import StorageConfig
from monitord.outbox import Durability, Outbox
from tests.faults.storekit import monitord


def test_status_shows_state_readings_alerts_backlog(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    ob = Outbox(db, StorageConfig(path=db))
    ob.add_readings([reading(i) for i in range(6)], {"chair-1": "s-1"})
    ids = ob.add_alert_events([alert(1)])
    ob.commit()
    ob.mark_delivered("mqtt", ids)
    ob.put_state(
        "chair/chair-1",
        {
            "phase": "dosing",
            "session_id": "s-1",
            "devices": {"bp": {"driver": "ble-bpm", "link": "up"}, "spo2": {"link": "lost"}},
            "active_alerts": [
                {
                    "alert_id": "a-00001",
                    "rule": "spo2.low",
                    "priority": "high",
                    "state": "active",
                    "ack": False,
                }
            ],
        },
        durability=Durability.NORMAL,
    )
    # the daemon keeps the store open while status reads it
    out = monitord("status", "--db", str(db))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "chair chair-1  phase=dosing" in text
    assert "device bp: link up (driver=ble-bpm)" in text and "device spo2: link lost" in text
    assert "last bp: sys_mmHg=123" in text
    assert "ALERT high spo2.low active id=a-00001" in text
    assert "outbox influx: 7 pending" in text and "outbox mqtt: 0 pending" in text
    js = json.loads(monitord("status", "--db", str(db), "--json").stdout)
    assert js["backlog"] == {"influx": 7, "mqtt": 0}
    assert js["chairs"]["chair-1"]["last_readings"]["hr"]["hr_bpm"] == 64.0
    ob.close()


def test_status_without_store_is_one_line(tmp_path: Path) -> None:
    out = monitord("status", "--db", str(tmp_path / "none.sqlite"))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "no outbox here" in out.stderr


def test_empty_delivery_values_read_none() -> None:
    # An empty list or map printed as nothing after its `=` (`stations_known=`).
    from monitord.commands.status import render_delivery

    (line,) = render_delivery({"stations_known": [], "rejects": {}, "waiting": 2})
    assert line == "delivery: stations_known=none, rejects=none, waiting=2", line
