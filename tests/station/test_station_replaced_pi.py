"""A chair's Pi replaced (or its daemon's clock otherwise behind the one before) while the
station is off the broker (docs/station.md "MQTT"). At the station's resubscribe the new
daemon's retained `online` and `alerts/active` are replayed, in either order; the set's
time (the new Pi's clock) is older than the chair time the station holds (the old Pi's,
ahead). Before, the set was kept out as an older one: its HIGH alarm was not on the
board and never phoned, until the chair's next live set, which comes only when its
alarms change (hours).

A replayed `online` with the time the station already holds is the same connection: an
older set replayed then is still kept out (its daemon died between an alarm's event and
its set: tests/station/test_station_older_set.py)."""

from __future__ import annotations

import json
from typing import Any

from monitord.config_station import ForwarderConfig
from monitord.station.forwarder import Forwarder
from monitord.station.model import StationModel
from tests.station.station_kit import alert

BASE = "monitord/site/chair-1/"
OLD_ONLINE = {"state": "online", "time": "2026-12-03T11:00:00Z", "version": "1"}
NEW_ONLINE = {"state": "online", "time": "2026-12-03T10:00:00Z", "version": "1"}  # behind
HIGH = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s")
EVENT = {k: HIGH[k] for k in ("alert_id", "rule", "priority", "kind", "message")}


class Station:
    """The model fed as server.py `_changed` feeds it, with the phone forwarder."""

    def __init__(self) -> None:
        self.m = StationModel("monitord", "site")
        self.f = Forwarder(ForwarderConfig(url="http://127.0.0.1:9/hook", after_s=60.0), "site")

    def feed(self, rest: str, body: dict[str, Any], at: float | None) -> None:
        ch = self.m.apply(BASE + rest, json.dumps(body).encode(), at=at)
        assert not ch.rejected, ch.rejected
        for ev in ch.events:
            self.f.on_event(ev)
        self.f.on_chairs({c: self.m.chairs[c] for c in ch.chairs})

    def ids(self) -> list[str]:
        return [a["alert_id"] for a in self.m.chairs["chair-1"].alerts]

    def old_pi_heard_live(self) -> None:
        """The old Pi, its clock an hour ahead of the new one's, heard live; then the
        station loses the broker and subscribes again (`listening`)."""
        self.feed("status", OLD_ONLINE, 1.0)
        self.feed("alerts/active", {"time": "2026-12-03T11:00:01Z", "alerts": []}, 2.0)
        self.m.listening(3.0)


def _new_set() -> dict[str, Any]:
    return {"time": "2026-12-03T10:00:30Z", "alerts": [HIGH]}


def test_a_replaced_pis_replayed_alarm_is_shown_when_its_online_comes_first() -> None:
    s = Station()
    s.old_pi_heard_live()
    s.feed("status", NEW_ONLINE, None)
    s.feed("alerts/active", _new_set(), None)
    assert s.ids() == [HIGH["alert_id"]], "the new Pi's replayed HIGH alarm is not shown"
    assert HIGH["alert_id"] in s.f._pending, "the new Pi's HIGH alarm is never phoned"


def test_a_replaced_pis_replayed_alarm_is_shown_when_its_set_comes_first() -> None:
    s = Station()
    s.old_pi_heard_live()
    s.feed("alerts/active", _new_set(), None)  # kept out for now: the old Pi's time
    s.feed("status", NEW_ONLINE, None)  # a new connection: its set was its newest
    assert s.ids() == [HIGH["alert_id"]], "the new Pi's replayed HIGH alarm is not shown"
    assert HIGH["alert_id"] in s.f._pending, "the new Pi's HIGH alarm is never phoned"
    # Judged against what that connection said: an older set of it is kept out again.
    s.m.listening(4.0)
    s.feed("alerts/active", {"time": "2026-12-03T10:00:10Z", "alerts": []}, None)
    assert s.ids() == [HIGH["alert_id"]]


def test_a_set_kept_out_before_a_newer_live_message_is_not_applied_later() -> None:
    """Kept out, then a live set, then a new connection's `online` replayed: the kept set
    is no longer the newest and stays out."""
    s = Station()
    s.old_pi_heard_live()
    s.feed("alerts/active", {"time": "2026-12-03T10:00:10Z", "alerts": []}, None)
    s.feed("alerts/active", _new_set(), 4.0)  # live
    s.feed("status", NEW_ONLINE, None)
    assert s.ids() == [HIGH["alert_id"]], "an older kept-out set replaced a live one"


def _died_between_event_and_set(s: Station, online: dict[str, Any], at: float) -> None:
    """The chair's daemon says `online` (at `at`, live) and its set; its alarm's event is
    heard live; it dies before its set (its Last Will is not heard yet)."""
    s.feed("status", online, at)
    s.feed("alerts/active", {"time": "2026-12-03T10:00:30Z", "alerts": []}, at + 1)
    s.feed("alerts/events", {**EVENT, "event": "raised", "time": "2026-12-03T10:00:40Z"}, at + 2)
    assert s.ids() == [HIGH["alert_id"]]
    s.m.listening(at + 3)


def test_a_daemon_that_died_keeps_its_live_alarm_in_either_replay_order() -> None:
    older = {"time": "2026-12-03T10:00:30Z", "alerts": []}
    will = {"state": "offline", "time": NEW_ONLINE["time"], "version": "1"}
    replays: list[list[tuple[str, dict[str, Any]]]] = [
        [("status", NEW_ONLINE), ("alerts/active", older)],
        [("alerts/active", older), ("status", NEW_ONLINE)],
        [("status", will), ("alerts/active", older)],
        [("alerts/active", older), ("status", will)],
    ]
    for replay in replays:
        s = Station()
        _died_between_event_and_set(s, NEW_ONLINE, 1.0)
        for rest, body in replay:
            s.feed(rest, body, None)
        assert s.ids() == [HIGH["alert_id"]], f"the live alarm dropped by {replay}"
        assert HIGH["alert_id"] in s.f._pending, f"the phone countdown ended by {replay}"


def test_a_live_alarm_of_a_replaced_pi_is_not_dropped_by_its_own_older_set() -> None:
    """The new Pi's `online` heard live (the SAME connection replayed later): its alarm
    heard live stays when its older set is replayed, in either order."""
    older = {"time": "2026-12-03T10:00:30Z", "alerts": []}
    replays: list[list[tuple[str, dict[str, Any]]]] = [
        [("status", NEW_ONLINE), ("alerts/active", older)],
        [("alerts/active", older), ("status", NEW_ONLINE)],
    ]
    for replay in replays:
        s = Station()
        s.old_pi_heard_live()
        _died_between_event_and_set(s, NEW_ONLINE, 4.0)
        for rest, body in replay:
            s.feed(rest, body, None)
        assert s.ids() == [HIGH["alert_id"]], f"the live alarm dropped by {replay}"


def test_a_set_kept_out_then_a_live_event_is_not_applied_at_the_online() -> None:
    """Kept out, then the daemon heard live (an event: its set follows, live), then its
    new `online` replayed: the kept set, older than that event, does not drop it."""
    s = Station()
    s.old_pi_heard_live()
    s.feed("alerts/active", {"time": "2026-12-03T10:00:30Z", "alerts": []}, None)
    s.feed("alerts/events", {**EVENT, "event": "raised", "time": "2026-12-03T10:00:40Z"}, 4.0)
    s.feed("status", NEW_ONLINE, None)
    assert s.ids() == [HIGH["alert_id"]], "a kept-out set applied after a live event"


def test_an_older_save_replayed_does_not_drop_a_live_alarm_in_either_order() -> None:
    """The broker restored from a save taken before the daemon's last reconnect (and its
    alarm), the daemon dead since: its older `online`, heard live before, and its older
    set are replayed. That `online` is a connection the station heard, not a new one;
    read as new, its older set was applied and the live HIGH alarm left the board."""
    first = {"state": "online", "time": "2026-12-03T09:00:00Z", "version": "1"}
    saved = {"time": "2026-12-03T09:00:05Z", "alerts": []}
    replays: list[list[tuple[str, dict[str, Any]]]] = [
        [("status", first), ("alerts/active", saved)],
        [("alerts/active", saved), ("status", first)],
    ]
    for replay in replays:
        s = Station()
        s.feed("status", first, 0.5)
        s.feed("alerts/active", saved, 0.6)
        _died_between_event_and_set(s, NEW_ONLINE, 1.0)  # reconnected, alarm, died
        for rest, body in replay:
            s.feed(rest, body, None)
        assert s.ids() == [HIGH["alert_id"]], f"the live alarm dropped by {replay}"
        assert HIGH["alert_id"] in s.f._pending, f"the phone countdown ended by {replay}"


def test_a_replaced_pis_alarm_is_shown_when_its_last_will_is_replayed() -> None:
    """The new Pi connected, raised its alarm and went away (its Last Will, with its
    connection's time) while the station was off the broker: its set is its newest state.
    Before, only an `online` said a new connection: the set stayed out, the old Pi's state
    on the board and the new Pi's HIGH alarm never shown nor phoned."""
    will = {"state": "offline", "time": NEW_ONLINE["time"], "version": "1"}
    for replay in (
        [("alerts/active", _new_set()), ("status", will)],
        [("status", will), ("alerts/active", _new_set())],
    ):
        s = Station()
        s.old_pi_heard_live()
        for rest, body in replay:
            s.feed(rest, body, None)
        assert s.ids() == [HIGH["alert_id"]], f"the new Pi's HIGH alarm unshown by {replay}"
        assert HIGH["alert_id"] in s.f._pending, f"never phoned by {replay}"


def test_a_replayed_online_without_a_time_is_no_new_connection() -> None:
    """An `online` with no time names no connection: an older set replayed with it stays
    out. Before, any time but the held one (None too) read as a new connection."""
    for replay in (
        [("status", {"state": "online"}), ("alerts/active", {"time": "2026-12-03T10:00:30Z"})],
        [("alerts/active", {"time": "2026-12-03T10:00:30Z"}), ("status", {"state": "online"})],
    ):
        s = Station()
        _died_between_event_and_set(s, NEW_ONLINE, 1.0)
        for rest, body in replay:
            s.feed(rest, {"alerts": [], **body}, None)
        assert s.ids() == [HIGH["alert_id"]], f"the live alarm dropped by {replay}"


def test_a_replaced_pis_alarm_cleared_live_is_not_brought_back_by_a_late_raise() -> None:
    """The new Pi's kept set applied at its `online`; its alarm then cleared live; a
    re-sent `raised` of it heard after does not put it back, nor its phone countdown."""
    s = Station()
    s.old_pi_heard_live()
    s.feed("alerts/active", _new_set(), None)
    s.feed("status", NEW_ONLINE, None)
    assert s.ids() == [HIGH["alert_id"]]
    s.feed("alerts/events", {**EVENT, "event": "cleared", "time": "2026-12-03T10:01:00Z"}, 5.0)
    s.feed("alerts/active", {"time": "2026-12-03T10:01:00Z", "alerts": []}, 6.0)
    s.feed("alerts/events", {**EVENT, "event": "raised", "time": "2026-12-03T10:00:25Z"}, 7.0)
    assert s.ids() == [], "a cleared alarm shown again"
    assert HIGH["alert_id"] not in s.f._pending, "a cleared alarm's phone countdown restarted"
