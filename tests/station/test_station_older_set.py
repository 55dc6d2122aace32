"""A chair's retained `alerts/active` older than what the station already heard from it
(docs/station.md "MQTT"). A daemon publishes an alarm's event first and its active set
after the broker took the event (monitord/sinks/mqtt.py `_tx`); killed in between (or
its network cut there, or a broker restored from a save taken before the set), the
broker keeps the set from before the alarm. The station applies the event live; then it
reconnects to the broker (a broker restart, its own link lost) and the broker replays
the older retained set. Before, that set replaced the chair's alerts: the unacknowledged
high alarm left the board and its tone stopped, with nothing left to bring it back (its
daemon is gone), and the phone forwarder ended its countdown for good."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from monitord.config_station import ForwarderConfig
from monitord.station.forwarder import Forwarder
from monitord.station.model import StationModel
from tests.servers import Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    alert,
    mqtt_login,
    session,
    station_page,
    tile,
)


async def test_an_older_retained_set_does_not_drop_an_alarm_heard_live(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        # The set before the alarm, a minute old: a session in dosing, no alert.
        await pub.chair("chair-1", [], sess=session("dosing", "esketamine", 10))
        await pub.active("chair-1", [], session("dosing", "esketamine", 10), t=time.time() - 60)
        await page.until(f"{tile('chair-1')} !== null", 20, "chair-1's tile")
        # The alarm's event, live; the daemon dies before its set (its Last Will).
        a = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s", ago_s=1)
        await pub.event("chair-1", a, "raised")
        await pub.status("chair-1", "offline")
        await page.until(f"{tile('chair-1')}.classList.contains('offline')", 10, "offline")
        await page.until("window.__monitordAudio.current?.priority === 'high'", 10, "high")
        # The station's broker goes and comes back: the retained set (a minute old) and
        # the Last Will are replayed at its new subscribe.
        await asyncio.to_thread(mosquitto.stop)
        await page.until("document.body.classList.contains('stale')", 15, "stale")
        await asyncio.to_thread(mosquitto.start)
        await page.until("!document.body.classList.contains('stale')", 20, "live again")
        # A message sent after the station subscribed again comes after the replay.
        async with mqtt_login(mosquitto) as c:
            await ChairPublisher(c, mqtt_prefix).status("chair-2", "online")
        await page.until(f"{tile('chair-2')} !== null", 20, "chair-2, after the replay")
        await page.screenshot(tmp_path / "older_set.png")
        text = await page.js(f"{tile('chair-1')}.innerText")
        assert "SpO2 81 < 85" in text, f"the high alarm heard live left the board: {text!r}"
        sound = await page.js("window.__monitordAudio.current")
        assert sound is not None and sound["priority"] == "high", (
            f"an older retained set silenced the unacknowledged high alarm: {sound}"
        )


def test_only_a_replayed_set_older_than_the_chair_time_is_kept_out() -> None:
    """The model alone: a retained set as old as what was heard, or newer, or without a
    time, replaces the alerts; so does a live one, whatever its time (the broker forwards
    a chair's messages in the order it sent them)."""
    m = StationModel("monitord", "site")
    t = "monitord/site/chair-1/alerts/active"
    x = {**alert("chair-1", "spo2.very_low", "high", "SpO2 81"), "raised_t": 100.0}

    def put(body: dict[str, Any], at: float | None) -> list[str]:
        assert not m.apply(t, json.dumps(body).encode(), at=at).rejected
        return [a["alert_id"] for a in m.chairs["chair-1"].alerts]

    ids = [x["alert_id"]]
    assert put({"time": "2026-12-03T10:00:05Z", "alerts": [x]}, 1.0) == ids
    assert put({"time": "2026-12-03T10:00:00Z", "alerts": []}, None) == ids, "older, replayed"
    assert put({"time": "2026-12-03T10:00:05Z", "alerts": [x]}, None) == ids
    assert put({"time": "2026-12-03T10:00:05Z", "alerts": []}, None) == [], "as old: applied"
    assert put({"time": "2026-12-03T10:00:06Z", "alerts": [x]}, None) == ids, "newer: applied"
    assert put({"alerts": []}, None) == [], "no time: applied"
    assert put({"time": "2026-12-03T09:00:00Z", "alerts": [x]}, 2.0) == ids, "live: applied"


def test_the_phone_countdown_of_an_alarm_heard_live_outlives_an_older_replay() -> None:
    """As the station feeds its forwarder (server.py `_changed`): before, the older set
    ended the countdown of the alarm it lacked, and an alarm ended is never counted again."""
    m = StationModel("monitord", "site")
    f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=60.0), "site")
    base = "monitord/site/chair-1/"

    def feed(rest: str, body: dict[str, Any], at: float | None) -> None:
        ch = m.apply(base + rest, json.dumps(body).encode(), at=at)
        assert not ch.rejected, ch.rejected
        for ev in ch.events:
            f.on_event(ev)
        f.on_chairs({c: m.chairs[c] for c in ch.chairs})

    feed("alerts/active", {"time": "2026-12-03T10:00:00Z", "alerts": []}, 1.0)
    x = alert("chair-1", "spo2.very_low", "high", "SpO2 81")
    event = {k: x[k] for k in ("alert_id", "rule", "priority", "kind", "message")}
    feed("alerts/events", {**event, "event": "raised", "time": "2026-12-03T10:00:05Z"}, 2.0)
    assert x["alert_id"] in f._pending, "the live raise did not start the countdown"
    feed("alerts/active", {"time": "2026-12-03T10:00:00Z", "alerts": []}, None)  # replayed
    assert x["alert_id"] in f._pending, "an older replayed set ended the phone countdown"


def test_a_replayed_set_as_old_as_an_event_heard_after_the_last_set_is_kept_out() -> None:
    """The model alone: an event may have the time of the set before it exactly (a flood's
    next batch, tests/faults/test_active_set_time_flood.py), so a replayed set as old as
    an event heard after the last set may lack it: kept out. As old as a set: applied."""
    m = StationModel("monitord", "site")
    base = "monitord/site/chair-1/alerts/"
    x = alert("chair-1", "hr.very_high", "high", "HR 170")
    event = {k: x[k] for k in ("alert_id", "rule", "priority", "kind", "message")}
    before = {"time": "2026-12-03T10:00:05Z", "alerts": []}

    def put(rest: str, body: dict[str, Any], at: float | None) -> list[str]:
        assert not m.apply(base + rest, json.dumps(body).encode(), at=at).rejected
        return [a["alert_id"] for a in m.chairs["chair-1"].alerts]

    assert put("active", before, 1.0) == []
    raised = {**event, "event": "raised", "time": "2026-12-03T10:00:05Z"}
    assert put("events", raised, 2.0) == [x["alert_id"]]
    assert put("active", before, None) == [x["alert_id"]], "as old as an event after it: kept"
    # A set heard after it (live) resets that: one as old as that set replaces.
    assert put("active", {**before, "alerts": [x]}, 3.0) == [x["alert_id"]]
    assert put("active", before, None) == [], "as old as the last set: applied"
