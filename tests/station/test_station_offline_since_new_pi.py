""" "Not monitored since" of a chair whose new connection's clock is behind the one before
(a replaced Pi, docs/station.md "Offline chairs"): the last sign of life of the connection
that was lost, on its clock. Before, the latest time ever seen stood across connections:
the old Pi's clock, an hour ahead, kept its last reading's time, and the new Pi, lost after
40 min, read "not monitored since" 20 min after it was lost (monitored, by the banner,
while nobody was). Model-level: the times the page is sent."""

from __future__ import annotations

import json
import time
from typing import Any

from monitord.models import iso
from monitord.station.model import StationModel

BASE = "monitord/site/"


def put(m: StationModel, rest: str, body: dict[str, Any]) -> None:
    ch = m.apply(f"{BASE}chair-1/{rest}", json.dumps(body).encode(), at=time.monotonic())
    assert ch.rejected is None, ch.rejected


def reading(t: float) -> dict[str, Any]:
    return {"chair": "chair-1", "device": "monitor", "measured_at": iso(t), "valid": True,
            "quality": [], "hr_bpm": 72}  # fmt: skip


def test_offline_since_is_of_the_connection_lost() -> None:
    m, wall = StationModel("monitord", "site"), time.time() - 7200
    # The old Pi, its clock an hour ahead of the wall; last heard at wall + 10 min.
    put(m, "status", {"state": "online", "time": iso(wall), "chair_time": iso(wall + 3600)})
    put(m, "vitals/hr", reading(wall + 3600 + 600))
    # Replaced by a Pi on the wall's clock, whose last reading is at wall + 40 min.
    put(m, "status", {"state": "online", "time": iso(wall + 900), "chair_time": iso(wall + 900)})
    put(m, "vitals/hr", reading(wall + 2400))
    # Lost: its Last Will (no chair_time; its time the connect).
    put(m, "status", {"state": "offline", "time": iso(wall + 900)})
    assert m.chairs["chair-1"].to_json()["offline_since"] == iso(wall + 2400)


def test_an_older_daemon_after_a_newer_one_counts_its_statuses() -> None:
    """A daemon without `chair_time` replacing one with it: its statuses count again."""
    m, wall = StationModel("monitord", "site"), time.time() - 7200
    put(m, "status", {"state": "online", "time": iso(wall), "chair_time": iso(wall)})
    put(m, "status", {"state": "online", "time": iso(wall + 900)})
    put(m, "status", {"state": "offline", "time": iso(wall + 1200)})  # a clean stop
    assert m.chairs["chair-1"].to_json()["offline_since"] == iso(wall + 1200)
