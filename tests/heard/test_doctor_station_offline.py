"""Issue 16, "`monitord doctor` proves the round trip ... Also reports whether a station is
online". A station's retained status saying `offline` (its Last Will, or a clean stop)
is no station online: doctor fails the `stations` line ("an alert raised now would be
seen by nobody at the station"), not `ok online: station-1`.

Found by mutation: counting every station with a retained status as online passed every
test (they left an `online` status, or none, or one that does not parse). Real mosquitto
2.0 with the shipped ACL; doctor run on the station's own config.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.heard.test_doctor_round_trip import doctor, publish_online, station_config


async def test_doctor_counts_a_station_whose_status_is_offline_as_not_online(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    offline = {"state": "offline", "time": "2026-01-01T00:00:00Z", "version": "t"}
    await publish_online(broker, json.dumps(offline).encode())
    rc, lines, text = doctor(station_config(tmp_path, broker))
    print(text)
    assert rc == 1, text
    assert lines["stations"].startswith("FAIL ") and "no station online" in text, text
    assert "online: station-1" not in text, text
