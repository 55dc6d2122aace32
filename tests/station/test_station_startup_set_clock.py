"""The active set a daemon starts with is stamped on the chair's clock, as its events and
every later set are (docs/station.md "MQTT").

A chair clock runs ahead of the wall clock after the wall clock stepped back (NTP
correcting a clock set ahead, an operator) while a session timer was pending: it never
goes back, also across a restart (monitord/clock.py). The station keeps out a retained
`alerts/active` replayed at its resubscribe whose `time` is older than what it already
heard from that chair (monitord/station/model.py). The daemon stamped the set it starts
with on the wall clock, so that set read up to the offset older than the chair's events
before the restart: a station away across the restart (its network, its broker) kept it
out when it came back. What it missed stayed missed: an alarm cleared meanwhile stayed
on the board and sounding; one raised meanwhile (the daemon keeps its alarms across a
restart) never showed, until the chair's next alert event."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import iso
from monitord.outbox import Durability, Outbox
from monitord.station.model import StationModel
from tests.e2e.e2e_kit import CHAIR, NO_INFLUX, SITE, daemon_in_process, mqtt_section, write_config
from tests.servers import Mosquitto
from tests.station.station_kit import alert, mqtt_login

AHEAD_S = 3600.0  # the chair clock ahead of the wall clock


async def test_a_replayed_startup_set_is_not_kept_out_when_the_chair_clock_runs_ahead(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), influx=NO_INFLUX)
    db = tmp_path / "outbox.sqlite"
    # The previous run's last clock row: the chair clock an hour ahead of the wall clock.
    now = time.time()
    ob = Outbox(db, StorageConfig(path=db))
    ob.put_state(f"clock/{CHAIR}", {"t": now + AHEAD_S, "wall": now}, durability=Durability.SYNC)
    ob.close()
    # What the station heard live from that run, a second before its last row: an alarm.
    model = StationModel(mqtt_prefix, SITE)
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}/"
    x = alert(CHAIR, "spo2.very_low", "high", "SpO2 81 < 85")
    ev = {k: x[k] for k in ("alert_id", "rule", "priority", "kind", "message")}
    raised = {**ev, "event": "raised", "time": iso(now + AHEAD_S - 1)}
    assert not model.apply(base + "alerts/events", json.dumps(raised).encode(), at=1.0).rejected
    # The alarm then cleared while the station was away, and the daemon restarted: the
    # set it starts with (no alert) is what the broker replays when the station is back.
    async with mqtt_login(mosquitto) as spy:
        await spy.subscribe(base + "alerts/active", qos=1)
        async with daemon_in_process(cfg):
            async with asyncio.timeout(20):
                async for msg in spy.messages:
                    payload = msg.payload
                    assert isinstance(payload, bytes), payload
                    break
    body = json.loads(payload)
    ch = model.apply(base + "alerts/active", payload, at=None)  # replayed at a resubscribe
    assert not ch.rejected, ch.rejected
    view = model.chairs[CHAIR]
    assert view.clock == body["time"], f"the replayed startup set was kept out: {view.clock}"
    assert view.alerts == [], f"an alarm cleared before the restart stayed: {view.alerts}"
    assert body["time"] >= iso(now + AHEAD_S), f"startup set not on the chair clock: {body}"
