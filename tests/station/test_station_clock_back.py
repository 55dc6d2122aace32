"""A chair's time as the station holds it (`ChairView.clock`, what a replayed active set
is judged against) never steps back (docs/station.md "MQTT").

An event older than what the station heard can come live after it: one re-sent after a
reconnect (at least once), one held behind a refusal while the set went ahead of it
(docs/mqtt.md), another daemon on the chair id. Before, such an event set the chair's
time back to its own, and an older retained set, replayed at the station's next
subscribe (the daemon died between an alarm's event and its set), read as newer than
what the station held: applied, it took the unacknowledged high alarm heard live off the
board, with no daemon left to bring it back. A set heard live is the one exception: it
sets the time, also back (a replaced Pi's clock behind), else the daemon's newer sets,
replayed, were kept out and the alarms they add never shown
(tests/station/test_station_live_set_clock.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from monitord.models import iso
from monitord.station.model import StationModel
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    alert,
    mqtt_login,
    station_config,
    station_in_process,
)


async def test_an_older_event_heard_late_does_not_let_an_older_set_drop_an_alarm(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    now = time.time()
    old = alert("chair-1", "hr.very_high", "high", "HR 170 > 150", ago_s=130)
    alarm = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s", ago_s=10)
    async with station_in_process(cfg) as (st, _):
        await eventually(lambda: st.bridge.connected, 20, "the station on the broker")

        def ids(chair: str) -> list[Any]:
            view = st.model.chairs.get(chair)
            return [] if view is None else [a["alert_id"] for a in view.alerts]

        async with mqtt_login(mosquitto) as c:
            pub = ChairPublisher(c, mqtt_prefix)
            await pub.status("chair-1", "online")
            # The set of a minute ago: an older alarm cleared, nothing active.
            await pub.active("chair-1", [], t=now - 60)
            # The alarm, live; its set never comes (the daemon dies first).
            await pub.event("chair-1", alarm, "raised", time=iso(now - 10))
            await eventually(lambda: ids("chair-1") == [alarm["alert_id"]], 10, "the alarm")
            # The older alarm's clear once more (re-sent), then the daemon's Last Will.
            await pub.event("chair-1", old, "cleared", time=iso(now - 120))
            await pub.status("chair-1", "offline")
            await eventually(lambda: st.model.chairs["chair-1"].online is False, 10, "offline")
        # The station's broker goes and comes back: the retained set of a minute ago and
        # the Last Will are replayed at its new subscribe.
        await asyncio.to_thread(mosquitto.stop)
        await eventually(lambda: not st.bridge.connected, 15, "the broker lost")
        await asyncio.to_thread(mosquitto.start)
        async with mqtt_login(mosquitto) as c:
            await eventually(lambda: st.bridge.connected, 20, "the broker back")
            # A message sent after the station subscribed again comes after the replay.
            await ChairPublisher(c, mqtt_prefix).status("chair-2", "online")
            await eventually(lambda: "chair-2" in st.model.chairs, 20, "chair-2, after it")
            assert ids("chair-1") == [alarm["alert_id"]], (
                f"an older replayed set took the alarm heard live off the board: {ids('chair-1')}"
            )


def test_a_daemon_connecting_anew_sets_the_time_back_with_its_first_live_set() -> None:
    """The model alone (a replay the station missed live cannot be ordered against a real
    broker): a daemon whose clock is an hour behind connects; its live set sets the time
    back, so its next set, replayed at the station's resubscribe, is applied. A replay at
    the same moment of an older set of that new daemon is still kept out."""
    m = StationModel("monitord", "site")
    base = "monitord/site/chair-1/"
    x = alert("chair-1", "bp.crisis", "high", "BP 212/124")

    def put(rest: str, body: dict[str, Any], at: float | None) -> list[str]:
        assert not m.apply(base + rest, json.dumps(body).encode(), at=at).rejected
        return [a["alert_id"] for a in m.chairs["chair-1"].alerts]

    online = {"state": "online", "time": "2026-12-03T10:00:00Z"}
    assert put("status", online, 1.0) == []
    assert put("alerts/active", {"time": "2026-12-03T10:00:00Z", "alerts": []}, 2.0) == []
    # The Pi replaced; the new one's clock an hour behind.
    assert put("status", {**online, "time": "2026-12-03T09:00:00Z"}, 3.0) == []
    assert put("alerts/active", {"time": "2026-12-03T09:00:00Z", "alerts": []}, 4.0) == []
    assert put("alerts/active", {"time": "2026-12-03T08:59:00Z", "alerts": [x]}, None) == [], (
        "a replayed set older than the new daemon's first set was applied"
    )
    # The crisis raised while the station was away: its set, replayed, is applied.
    newer = {"time": "2026-12-03T09:01:00Z", "alerts": [x]}
    assert put("alerts/active", newer, None) == [x["alert_id"]], (
        "the new daemon's newer set, replayed, was kept out: its alarm unshown"
    )
    # An event older than that, heard live (a re-send), does not set the time back.
    cleared = {"event": "cleared", "alert_id": "other", "time": "2026-12-03T08:00:00Z"}
    assert put("alerts/events", cleared, 5.0) == [x["alert_id"]]
    assert put("alerts/active", {"time": "2026-12-03T08:30:00Z", "alerts": []}, None) == [
        x["alert_id"]
    ], "an older replayed set, after an older event heard live, dropped the alarm"
