"""Did a station show the alarm? Receipts and station status (issue 16, docs/delivery.md).

A station that has shown an alert event publishes a receipt on
`{prefix}/{site}/{chair}/alerts/receipts`: `{"alert_id", "event", "level", "station",
"shown_at", "sounded"}`. The daemon tracks the `raised` and `escalated` events of high and
medium priority that the broker accepted, until a receipt for that very event arrives
(alert id, event and escalation level: one alert escalates again and again, and a receipt
of level 1 must never answer level 2); one still waiting after `mqtt.receipt_timeout_s`
means nobody is listening, and monitord/delivery.py raises `delivery.unheard`. Any receipt
clears it: a station is listening again, and what it missed is in `alerts/active`
(retained) for it to show.

Several receipts of one event are normal (two stations; one station whose page sounded an
event first shown silent). Only the first answers its wait; the others are duplicates and
are dropped (`heard`), not kept as early receipts, where a receipt keyed without the level
once answered the alert's next escalation before it was sent (audit R1).

What is waiting, and the receipts that came before their PUBACK, survive a restart: the
daemon keeps them in the store (`state()` -> `put_live("receipts")`; a receipt is written
at once, with the delivery marks held, so an event a station receipted is not re-sent after
a crash and then waited for in vain; `restore()` at start gives each wait a full timeout
from then). Without it, an alarm the broker took just before a restart and no station
showed was never waited for again.

Stations also keep a retained status on `{prefix}/{site}/stations/{id}` (`online` /
`offline`, the Last Will): the daemon says in `status` and at the annunciator when none is
online. This is delivery bookkeeping on the daemon's monotonic clock, not engine logic.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard

from monitord.sinks.commands import load_bounded

log = logging.getLogger("monitord.receipts")

TRACKED_EVENTS = frozenset({"raised", "escalated"})
TRACKED_PRIORITIES = frozenset({"high", "medium"})
RECEIPT_EVENTS = frozenset({"raised", "escalated", "acknowledged", "cleared", "pending"})
# What a receipt answers: (alert_id, event, level). `raised` happens once per alert id, so
# its level is 0 whatever was sent; an `escalated` without a level (a receipt of a station
# older than the `level` field, a wait stored by an older daemon) has None.
Key = tuple[str, str, int | None]
# Receipts remembered for events not (yet) known as accepted: the station's receipt can be
# handled before the PUBACK of the event it answers (both arrive on one connection, but the
# publishes of a batch are confirmed together). A few minutes of receipts at most.
KEEP_EARLY = 1024
# After the stations' topic is first subscribed, their retained statuses arrive within
# this (s): until then "none online" means nothing yet.
SETTLE_S = 2.0
# Events whose receipt came, remembered so that a second receipt of one is dropped as a
# duplicate instead of kept as an early receipt (which would live on in the stored state).
KEEP_HEARD = 1024
# Waits kept (the newest): more are overdue long since, `delivery.unheard` stands for
# them until a receipt, and each is stored on change (a restart keeps them).
KEEP_WAITING = 64
# Stations whose status was refused, remembered so that a refusal is said once at WARNING
# (then DEBUG) until that station sends a good one. Retained, a refused status comes back
# at every (re)subscribe of every chair's connection; a publisher inventing ids fills
# this to the cap, then the oldest is forgotten (and warned again when it comes back).
KEEP_BAD_STATIONS = 64
# Status times heard per station (`_station`): a retained one replayed with a time heard
# before another since is an older save's (the broker came back from it after a crash).
KEEP_STATION_TIMES = 16
# Receipts and station statuses are flat objects (depth 1): deeper is refused before
# `json.loads`, whose C parser recurses per level (`[` x 2,000 raised RecursionError out
# of the MQTT handler: an ERROR with a traceback, and a bogus "internal error" refusal
# on every chair's cmd/errors, at each reconnect for a retained station status).
MAX_DEPTH = 4


class BadReceipt(ValueError):
    """A receipt that is not the contract's; the message says what is wrong."""


@dataclass
class Waiting:
    chair: str
    rule: str
    priority: str
    since: float  # monotonic: when the broker accepted the event


class ParsedReceipt(NamedTuple):
    alert_id: str | None
    event: str
    station: str
    level: int | None  # the event's escalation level; None when not sent (or null)


def event_key(alert_id: str, event: str, level: object) -> Key:
    """The key of an alert event, as sent or as receipted."""
    if event == "raised":
        return (alert_id, event, 0)
    return (alert_id, event, level if _is_level(level) else None)


def _is_level(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def parse_receipt(payload: bytes) -> ParsedReceipt:
    """(alert_id, event, station, level) of a receipt, or BadReceipt naming the fault. A
    `pending` event has no alert id (`alert_id: null`, clinical-rules.md), and stations
    receipt every event they show (docs/station.md): its receipt carries null too. `level`
    is the shown event's `level` (null or absent when it has none; receipts of stations
    older than the field lack it)."""
    if not payload:
        raise BadReceipt("empty: a receipt is a JSON object")
    try:
        doc = load_bounded(payload, MAX_DEPTH)
    except ValueError as e:
        raise BadReceipt(str(e)) from None
    if not isinstance(doc, dict):
        raise BadReceipt("not a JSON object")
    alert_id, event, station = doc.get("alert_id"), doc.get("event"), doc.get("station")
    if event not in RECEIPT_EVENTS:
        raise BadReceipt(f"event {event!r} is not one of {', '.join(sorted(RECEIPT_EVENTS))}")
    pending_without_id = event == "pending" and alert_id is None
    if not pending_without_id and (not isinstance(alert_id, str) or not alert_id):
        raise BadReceipt("alert_id missing or not a string (null only for a pending event)")
    if not isinstance(station, str) or not station:
        raise BadReceipt("station missing or not a string")
    level = doc.get("level")
    if level is not None and not _is_level(level):
        raise BadReceipt("level not a whole number >= 0 (null when the event has none)")
    return ParsedReceipt(alert_id, str(event), station, level)


class Receipts:
    """What is waiting for a receipt, and which stations say they are online."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # Told when what must survive a restart changed (`state()`): urgent for a receipt.
        self.on_change: Callable[[bool], None] | None = None
        # Told when what is known of the stations changed: a status arrived, or the settle
        # time after the first subscription ended (the annunciator looks again).
        self.on_stations: Callable[[], None] | None = None
        # The delivery watch's deadlines (it sleeps till told, monitord/delivery.py): told
        # when a wait began with none before (the earliest deadline; a later wait never
        # is), and when a receipt came.
        self.on_wait: Callable[[], None] | None = None
        self.on_receipt: Callable[[], None] | None = None
        self.waiting: dict[Key, Waiting] = {}
        # Events receipted before the broker's PUBACK of them was handled
        self.early: OrderedDict[Key, None] = OrderedDict()
        # Events whose wait a receipt ended (or whose receipt came early): a later receipt
        # of one is a duplicate. Not stored: duplicates come seconds apart.
        self.heard: OrderedDict[Key, None] = OrderedDict()
        self.heard_at: float | None = None  # monotonic time of the last valid receipt
        self.received = 0
        self.stations: dict[str, dict[str, Any]] = {}
        self._bad_stations: dict[str, None] = {}  # refused statuses said (KEEP_BAD_STATIONS)
        self._said: dict[str, OrderedDict[str, None]] = {}  # station -> its status times
        # When the stations' topic was first subscribed (monotonic): their retained statuses
        # arrive just after, so "none online" means something only a moment later.
        self.subscribed_at: float | None = None

    # -- alert events ----------------------------------------------------------------
    def accepted(self, chair: str, event: dict[str, Any], now: float) -> None:
        """The broker accepted this alert event (PUBACK success)."""
        alert_id = event.get("alert_id")
        if (
            isinstance(alert_id, str)
            and event.get("event") in TRACKED_EVENTS
            and event.get("priority") in TRACKED_PRIORITIES
        ):
            key = event_key(alert_id, str(event["event"]), event.get("level"))
            if key in self.early:
                del self.early[key]  # a station showed it already
                self._heard(key)
            elif key in self.heard:
                return  # sent again on a new connection (at-least-once): shown already
            else:
                first = not self.waiting
                self.waiting[key] = Waiting(
                    chair, str(event.get("rule")), str(event.get("priority")), now
                )
                while len(self.waiting) > KEEP_WAITING:
                    del self.waiting[next(iter(self.waiting))]
                if first and self.on_wait is not None:
                    self.on_wait()
            self._changed(False)

    def receipt(
        self, alert_id: str | None, event: str, now: float, level: int | None = None
    ) -> None:
        """A station showed (alert_id, event, level). Whatever waited past the timeout
        goes too: a station is listening again, and the retained active set shows it what
        it missed.

        It answers only the wait of that very event. One that comes before its wait (the
        broker's PUBACK not yet handled) is kept in `early` for it; a second one of an
        event already heard is a duplicate and dropped. An `escalated` receipt without a
        level (a station older than the field) cannot say which escalation it saw: it
        answers the oldest escalation of that alert waiting now, or nothing, and is never
        kept (kept, it would answer a later escalation before that was sent)."""
        self.received += 1
        self.heard_at = now
        changed = False
        # Only a receipt of a tracked event can answer a wait (`accepted`): the others
        # (acknowledged, cleared, pending) would fill `early` and its stored copy.
        if alert_id is not None and event in TRACKED_EVENTS:
            key = event_key(alert_id, event, level)
            if key[2] is None and event == "escalated":
                key = next((k for k in self.waiting if k[:2] == key[:2]), key)
            if self.waiting.pop(key, None) is not None:
                self._heard(key)
                changed = True
            elif key[2] is not None and key not in self.heard and key not in self.early:
                self.early[key] = None
                while len(self.early) > KEEP_EARLY:
                    self.early.popitem(last=False)
                changed = True
        late = [k for k, w in self.waiting.items() if now - w.since >= self.timeout_s]
        for k in late:
            del self.waiting[k]
        if changed or late:
            self._changed(True)
        if self.on_receipt is not None:  # any receipt clears `delivery.unheard`
            self.on_receipt()

    def _heard(self, key: Key) -> None:
        self.heard[key] = None
        while len(self.heard) > KEEP_HEARD:
            self.heard.popitem(last=False)

    # -- across a restart ------------------------------------------------------------
    def _changed(self, urgent: bool) -> None:
        if self.on_change is not None:
            self.on_change(urgent)

    def state(self) -> dict[str, Any]:
        """What a restart must not forget (JSON): the waits, and the early receipts."""
        return {
            "waiting": [
                [a, e, lv, w.chair, w.rule, w.priority] for (a, e, lv), w in self.waiting.items()
            ],
            # An early receipt matters until its PUBACK is handled: the newest suffice.
            "early": [list(k) for k in list(self.early)[-KEEP_WAITING:]],
        }

    def restore(self, state: Any, now: float, chairs: Collection[str]) -> None:
        """At start, from `state()` as stored: each wait of a configured chair gets a
        full timeout from `now` (the restarted daemon republishes `alerts/active`; no
        station's receipt of it came). Anything malformed is dropped with a warning."""
        if not isinstance(state, dict):
            return
        try:
            for row in state.get("waiting", [])[-KEEP_WAITING:]:
                # Stored before the level was kept: [a, e, chair, rule, priority].
                a, e, lv, chair, rule, priority = (
                    row if len(row) == 6 else [*row[:2], None, *row[2:]]
                )
                if chair in chairs:
                    self.waiting[event_key(str(a), str(e), lv)] = Waiting(
                        chair, rule, priority, now
                    )
            for row in state.get("early", [])[-KEEP_EARLY:]:
                a, e, lv = row if len(row) == 3 else [*row, None]
                key = event_key(str(a), str(e), lv)
                if key[2] is not None:  # an old escalation receipt: which one is unknown
                    self.early[key] = None
        except (TypeError, ValueError) as err:
            log.warning("stored receipt waits ignored: not as written (%s)", err)

    def overdue(self, now: float) -> list[Waiting]:
        return [w for w in self.waiting.values() if now - w.since >= self.timeout_s]

    # -- stations --------------------------------------------------------------------
    def station_status(self, station: str, payload: bytes, replayed: bool = False) -> None:
        """A station's retained status (an empty payload removes it); `replayed`: sent by
        the broker from its store at our (re)subscribe, not as the station said it."""
        if not payload:
            self.stations.pop(station, None)
            self._bad_stations.pop(station, None)
            self._said.pop(station, None)
        else:
            self._station(station, payload, replayed)
        if self.on_stations is not None:
            self.on_stations()

    def _station(self, station: str, payload: bytes, replayed: bool) -> None:
        try:
            doc = load_bounded(payload, MAX_DEPTH)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("state") not in ("online", "offline"):
            said = station in self._bad_stations
            if not said:
                self._bad_stations[station] = None
                while len(self._bad_stations) > KEEP_BAD_STATIONS:
                    del self._bad_stations[next(iter(self._bad_stations))]
            log.log(
                logging.DEBUG if said else logging.WARNING,
                'station %s: status ignored: not {"state": "online"|"offline", ...}',
                station,
            )
            return
        self._bad_stations.pop(station, None)
        t, times = doc.get("time"), self._said.setdefault(station, OrderedDict())
        stale = replayed and isinstance(t, str) and t in times and next(reversed(times)) != t
        if stale and doc["state"] == "online":
            # Heard before another status since: the broker replays only the last it holds,
            # so it came back from an older save (a crash restores its last autosave).
            # Taken, a station heard gone read online again: no "NONE online", the
            # annunciator's technical tone off (tests/heard/test_station_status_older_save.py).
            # An `offline` is taken: the station may have gone while the broker was down
            # (nobody publishes its Will then), and a live one says `online` again at its
            # reconnect. Ignored, a gone station counted online for good
            # (tests/heard/test_station_status_older_save.py).
            return
        if isinstance(t, str):
            times[t] = None
            times.move_to_end(t)
            while len(times) > KEEP_STATION_TIMES:
                times.popitem(last=False)
        self.stations[station] = {"state": doc["state"], "time": t}

    def online(self) -> list[str]:
        return sorted(s for s, d in self.stations.items() if d["state"] == "online")

    def settled(self) -> None:
        """SETTLE_S after the first subscription (the sink's timer): "none online" now
        means none."""
        if self.on_stations is not None:
            self.on_stations()

    def any_online(self, now: float, settle_s: float = SETTLE_S) -> bool | None:
        """Whether a station is online; None while not yet known (not subscribed, or the
        retained statuses may still be on their way)."""
        if self.subscribed_at is None or now - self.subscribed_at < settle_s:
            return None
        return bool(self.online())

    def status(self) -> dict[str, Any]:
        return {
            "stations_online": self.online(),
            "stations_known": sorted(self.stations),
            "receipts_waiting": len(self.waiting),
            "receipts_received": self.received,
        }
