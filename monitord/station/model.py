"""The live state of every chair of a site, fed by MQTT messages (no I/O, no clock).

`StationModel.apply(topic, payload)` takes one message of `{prefix}/{site}/...` and returns
what changed: the chairs whose tile must be redrawn and the alert events to show (each
one is shown by the browsers, which then send a receipt). Chairs are discovered from the
topics: a station config lists none. Messages marked `"doctor": true` (the test messages
of `monitord doctor`) are ignored. Every other message is screened into its typed shape
first (messages.py): one that does not validate changes nothing, the chair keeps its last
good state, and the caller logs why (`Changes.rejected`, once per topic: bridge.py).

Whether a chair is still heard (docs/station.md "Silent chairs"): a daemon publishes
nothing on a timer, no heartbeat; a chair with a streaming device (an oximeter, a
monitor) publishes its readings at every commit of its outbox (`storage.commit_interval_s`,
5 s by default). So a chair one of whose kinds of reading arrives live at least twice per
`SILENT_AFTER_S` streams, and nothing heard from it for `SILENT_AFTER_S` reads NOT HEARD
on its tile, long before its Last Will (1.5 x `keepalive_s`, up to 45 s) says OFFLINE.
The caller passes the station's monotonic time of each live message (`apply(at=)`); a
retained one, replayed at a subscribe, is no sign of life.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from monitord.models import iso
from monitord.sinks.commands import load_bounded
from monitord.station import messages
from monitord.station.messages import ActiveSet, AlertEvent, Reading, Status
from monitord.station.order import _epoch, _later, natural_key, sorted_alerts, superseded

CHAIR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The last refusals kept per chair (shown in words on its tile).
MAX_ERRORS = 3
# A streaming chair silent this long (s) is NOT HEARD: three of its heartbeats (readings
# published at every 5 s commit). A kind of reading streams when it arrives at most half
# this apart: a cuff's reading every few minutes is no stream, nor are the readings of a
# daemon whose commit interval is above 7.5 s (never flagged, rather than flagged falsely).
SILENT_AFTER_S = 15.0
LOST_RULE = "tech.device_lost"  # its `value.device`: a lost device is expected silent
# What a daemon's `cmd/errors` may say of an ACK it did nothing with (docs/mqtt.md).
# and of a session command for a session no longer open (code `session`).
ANSWER_FIELDS: tuple[str, ...] = ("code", "alert_id", "rule", "acked_by", "acked_at")
ANSWER_FIELDS += ("cleared_at", "sent_session_id", "sent_session_ended")
ANSWER_FIELDS += ("open_session_id", "open_session_started")
# Cleared alert ids kept per chair (a late raise of one is ignored): weeks of a chair's alarms.
KEEP_CLEARED = 256
# Status times kept per chair (each names one connection of its daemon: `ChairView.said`).
KEEP_STATUSES = 64


@dataclass
class ChairView:
    id: str
    online: bool | None = None  # None: no status seen yet
    status_time: str | None = None
    vitals: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] | None = None
    # The chair's time of what the station holds: its last live active set's (the daemon's
    # state then, also back: a replaced Pi's clock behind), a later set or event since.
    # An event or replayed set older than it never steps it back (a re-send, one held
    # behind a refusal, docs/mqtt.md; stepped back, an older replayed set read as newer and
    # took an alarm heard live off the board). Kept ahead of a live set applied (as only
    # after a live `online` it was), the board held that set's alarms as of a time it was
    # not: every newer set of a daemon behind, replayed, was kept out (a cleared alarm
    # stayed, a new one unshown). None again at a replayed `online` of a connection the
    # station did not hear (`apply`): its sets are judged by what it said.
    clock: str | None = None
    # `clock` is an alert event's, heard after the last set applied: a set as old as it
    # may predate it (an event of a batch is at or after the set before it: docs/mqtt.md
    # "alerts/active"), and is kept out when replayed (`apply`).
    clock_by_event: bool = False
    # The last replayed set kept out (`_kept_out`) since the station's (re)subscribe, and
    # nothing newer heard since: retained messages of different topics come in any order,
    # and a replayed `online` of a new connection after it (a replaced Pi, clock behind)
    # shows it was that connection's newest state, not an older one: applied then.
    kept_set: ActiveSet | None = None
    # The times of the statuses heard from the chair (live or replayed), the last
    # KEEP_STATUSES: an `online` (and its Last Will) carries its connection's time, so a
    # replayed one with a time in here is a connection the station already heard. Only
    # the last one was compared: a broker restored from an older save replays an older
    # `online`, read as a new connection, and its older set took a live alarm off the board.
    said: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # The chair's clock against the station's monotonic one: the largest (chair time of a
    # set, event or `online`'s `chair_time` heard live) - (station time it came) since the
    # chair's daemon last said `online` (live, or replayed anew: a replaced Pi may run
    # behind the one before). Each
    # such time is at or before the chair's time then (stamped at the batch, sent after its
    # commit), so `chair_time()` never reads the chair's clock ahead. None: nothing heard
    # live yet.
    offset: float | None = None
    # `offset` was learnt from a live `online`'s `chair_time` (the chair's clock as it
    # spoke, not a set's time, which can be hours old): the page may count on it, also
    # behind the station's clock (`to_json`'s `chair_now`).
    told: bool = False
    # (its chair time less `leapt`, station time it came) of the connection's live `online`
    # with `chair_time`: a live raise stamped before it was held across an outage (`age`).
    told_at: tuple[float, float] | None = None
    # Chair seconds its clock leapt forward since its link went down, as that `online`
    # said (`leapt_s`): a raise held across them is aged on the clock less them (`age`,
    # `age_clock`); `chair_time` and the page's `chair_now` are the clock itself.
    leapt: float = 0.0
    # Alert ids heard `cleared` (-> that event's time), the last KEEP_CLEARED: a `raised`
    # or `escalated` of one of them heard later (re-sent, held behind a refusal) is of an
    # episode already over (ids are unique per episode, docs/mqtt.md) and adds nothing.
    cleared: OrderedDict[str, str | None] = field(default_factory=OrderedDict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # The last valid reading per kind: an invalid one (device or artifact check) is shown
    # marked, never as the chair's current value, so the one before it must be kept.
    last_valid: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The latest chair time seen (status, vitals, alert set or event): when it goes
    # offline, the tile says "not monitored since" this. A Last Will's own `time` is when
    # the daemon connected (the broker keeps the will from then), so it cannot say it.
    last_seen: str | None = None
    # Its daemon sends `chair_time` in statuses (their `time` is the wall's): `apply`.
    chair_clocked: bool = False
    # The station's monotonic time of the chair's last live message, of each kind's last
    # live reading, and the kinds that arrive at a stream's pace (-> their device).
    heard_at: float | None = None
    kind_at: dict[str, float] = field(default_factory=dict)
    streams: dict[str, str | None] = field(default_factory=dict)
    # `heard_at` is the station's (re)subscribe (`listening`), not a message: nothing heard
    # live from the chair since. A Last Will then may be of a chair lost while the station
    # was away (the broker sends it up to 45 s late): when is not known (`apply`).
    heard_at_resubscribe: bool = False
    # The daemon's `conflict`, from a status with it to an `online` without it: another
    # client (a second Pi with this chair's id) takes its connection over, and readings
    # under this chair may be the other patient's (docs/station.md "Two monitors as one
    # chair"). None: no conflict.
    conflict: str | None = None

    def streaming(self) -> bool:
        """Online, with a kind of reading arriving at a stream's pace from a device that
        is not lost (its `tech.device_lost` active: the daemon said why it went quiet)."""
        if self.online is not True:
            return False
        lost = {
            a["value"].get("device")
            for a in self.alerts
            if a.get("rule") == LOST_RULE and isinstance(a.get("value"), dict)
        }
        return any(d is None or d not in lost for d in self.streams.values())

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """The tile's state; `now` (the station's monotonic time) gives `heard_ago_s`."""
        return {
            "id": self.id,
            "online": self.online,
            "status_time": self.status_time,
            "vitals": self.vitals,
            "alerts": sorted_alerts(self.alerts),
            "session": self.session,
            "clock": self.clock,
            "errors": self.errors,
            "last_valid": self.last_valid,
            # Retained vitals may come after the retained status: computed when sent.
            "offline_since": self.last_seen if self.online is False else None,
            "conflict": self.conflict,
            # The page says NOT HEARD once a streaming chair is silent SILENT_AFTER_S,
            # counting on from this age at sending (its own monotonic clock); an offline
            # chair's banner says since when, on the station's clock (clock.js).
            "streaming": self.streaming(),
            "heard_ago_s": (
                round(max(now - self.heard_at, 0.0), 3)
                if now is not None and self.heard_at is not None
                else None
            ),
            # The chair's clock as this is sent (no later than it is), when learnt from its
            # live `online`: the page counts the tile's durations on it. Without it a page
            # could tell only a chair ahead, and one behind (a wall-clock step it did not
            # follow) read its alarms and dose an hour old, observation met an hour early.
            "chair_now": iso(at) if (at := self._told_time(now)) is not None else None,
        }

    def _told_time(self, now: float | None) -> float | None:
        return self.chair_time(now) if now is not None and self.told else None

    def chair_time(self, now: float) -> float | None:
        """The chair's clock (epoch seconds) at the station's monotonic `now`, read no later
        than it is; None when nothing was heard live from it (its offset unknown)."""
        return None if self.offset is None else now + self.offset

    def age_clock(self, now: float) -> float | None:
        """The chair's clock at `now` less its leaps since its link went down, to age an
        alert on (the phone forwarder): one raised before a leap is read as old as it is,
        one after it younger (counted from when seen at worst)."""
        at = self.chair_time(now)
        return None if at is None else at - self.leapt

    def age(self, t: str | None, now: float) -> float | None:
        """How long before the station's monotonic `now` the chair's clock read `t`, when
        `t` is before its connection's live `online` said that clock (a raise held across
        the outage): from that `online`, the station's seconds since added. None otherwise:
        a raise stamped later came live. Carried forward from the `online` on the station's
        clock (`chair_time`), a chair clock slower than it (a simulated chair below speed 1,
        a Pi's clock slewed back) was read ahead by all it lost over a connection of days,
        and each live raise read that old: phoned up to `after_s` early."""
        spoke, raised = self.told_at, _epoch(t)
        if spoke is None or raised is None or raised > spoke[0]:
            return None
        return spoke[0] + (now - spoke[1]) - raised

    def heard_time(self, t: str | None, at: float) -> None:
        """A set or event stamped `t` on the chair's clock came live at `at`."""
        e = _epoch(t)
        if e is not None and (self.offset is None or e - at > self.offset):
            self.offset = e - at

    def seen(self, t: Any) -> None:
        if _later(t, self.last_seen):
            self.last_seen = t


def _kept_out(view: ChairView, t: str) -> bool:
    """Whether a replayed set at chair time `t` is older than what the chair already said:
    older than its last set or event, or as old as an event heard after its last set. An
    event of a flood's next batch, received before the set's time, is taken at that time
    exactly (chair.py `_feed_checked`), and times go to the millisecond: as old, applied,
    the set before that batch dropped the alarm heard live."""
    if _later(view.clock, t):
        return True
    return view.clock_by_event and _epoch(view.clock) == _epoch(t)


def _over(view: ChairView, aid: str, t: str | None) -> bool:
    """Whether alert `aid` was heard cleared at or after chair time `t`."""
    if aid not in view.cleared:
        return False
    return not _later(t, view.cleared[aid])


def _sent(payload: str | None, key: str) -> str | None:
    """A field of a refused command: `by` (the nurse whose ACK or session command it was)
    or `action` (which session command), when its payload (the first 500 characters,
    untrusted) is a JSON object with a short string there."""
    try:
        body = load_bounded((payload or "").encode(), 4)  # a command nests no deeper
    except ValueError:
        return None
    v = body.get(key) if isinstance(body, dict) else None
    return v if isinstance(v, str) and 0 < len(v) <= 128 else None


@dataclass
class Changes:
    chairs: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)  # alert events, with "chair"
    stations: bool = False
    rejected: str | None = None  # why a message was ignored, for the log


class StationModel:
    def __init__(self, prefix: str, site: str, silent_after_s: float = SILENT_AFTER_S) -> None:
        self.base = f"{prefix}/{site}/"
        self.silent_after_s = silent_after_s
        self.chairs: dict[str, ChairView] = {}
        self.stations: dict[str, dict[str, Any]] = {}

    def subscriptions(self) -> list[str]:
        b = self.base
        return [
            f"{b}+/status",
            f"{b}+/vitals/+",
            f"{b}+/alerts/events",
            f"{b}+/alerts/active",
            f"{b}+/cmd/errors",
            f"{b}stations/+",
        ]

    def chair(self, chair_id: str) -> ChairView:
        view = self.chairs.get(chair_id)
        if view is None:
            view = self.chairs[chair_id] = ChairView(chair_id)
        return view

    def listening(self, at: float) -> None:
        """The station (re)subscribed at `at`: what it missed while away is no chair's
        silence, so each chair counts as heard now, and the gaps across it are no pace."""
        for view in self.chairs.values():
            if view.heard_at is not None and view.online is not False:  # offline: as lost
                view.heard_at, view.heard_at_resubscribe = at, True
            view.kind_at.clear()
            view.kept_set = None  # of the replay before: this one replays anew

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        return {
            "chairs": [self.chairs[c].to_json(now) for c in sorted(self.chairs, key=natural_key)],
            "stations": self.stations,
        }

    def apply(self, topic: str, payload: bytes, at: float | None = None) -> Changes:
        """One message; `at`: the station's monotonic time it came, for a live one (None
        for a retained one replayed at a subscribe: no sign of life)."""
        out = Changes()
        if not topic.startswith(self.base):
            return out
        parts = topic[len(self.base) :].split("/")
        if not payload:
            return out  # a retained message being cleared
        station = parts[0] == "stations" and len(parts) == 2
        chair_id, rest = parts[0], "/".join(parts[1:])
        shape = Status if station else messages.shape_of(rest)
        if shape is None:
            return out  # a topic the station does not read
        # Screened whole before any of it touches the model: a message that does not
        # validate leaves the chair's last good state as it was (messages.py).
        try:
            body = messages.load(payload)
            if body.get("doctor") is True:
                return out  # monitord doctor's test message: never a patient's state
            if not station and not CHAIR_RE.match(chair_id):
                raise messages.MessageError("not a chair id")
            msg = messages.validate(shape, body)
        except messages.MessageError as e:
            out.rejected = f"{topic}: {e}"
            return out
        if isinstance(msg, Status) and station:
            self.stations[parts[1]] = {"state": msg.state, "time": msg.time, "version": msg.version}
            out.stations = True
            return out
        view = self.chair(chair_id)
        if isinstance(msg, Status) and at is None and superseded(view.said, msg.time, msg.state):
            return out  # an older save's `online`: the status heard since stands (order.py)
        gone = isinstance(msg, Status) and msg.state == "offline"
        if at is not None:
            # An `offline` (its Last Will, a clean stop) is no sign of life: `heard_at`
            # stays the last one, the station-clock "since" of its offline banner.
            if not gone:
                view.heard_at, view.heard_at_resubscribe = at, False
            elif view.heard_at_resubscribe:
                # Nothing heard live since the station's resubscribe: the chair may have
                # been lost while the station was away. Counted from the resubscribe, the
                # banner read it monitored up to 45 s longer than it was.
                view.heard_at, view.heard_at_resubscribe = None, False
            self._stopped(view, at)
        elif gone and view.online is True:
            view.heard_at = None  # lost while the station was away: when is not known
        if isinstance(msg, Status):
            # Its daemon (re)connected, maybe another Pi on its own clock: said live, or
            # replayed with a time the station never heard from it (it connected anew
            # while the station was off the broker). Only the live one reset it: the old
            # daemon's clock, ahead, read the new one's alerts old and called at once.
            # One without a time names no connection: taken as the one held (`_kept_out`).
            anew = msg.time is not None and msg.time not in view.said
            if msg.state == "online" and (at is not None or anew):
                view.offset, view.told, view.told_at, view.leapt = None, False, None, 0.0
            if msg.state == "online" and at is not None:
                # Its clock as the daemon sent it (`chair_time`, docs/mqtt.md): known from
                # the connect, not from its first set, which after an outage carries its
                # last change's time (an alarm raised meanwhile was phoned up to `after_s`
                # late). Never from a replayed one or a Last Will: their time is past.
                view.heard_time(msg.chair_time, at)
                view.told = view.offset is not None
                if (spoke := _epoch(msg.chair_time)) is not None:
                    view.leapt = msg.leapt_s or 0.0
                    view.told_at = (spoke - view.leapt, at)
            if msg.state == "offline":  # its connection is over: no raise after is held on it
                view.told_at = None  # (its next one's events may come before its `online`)
            if anew and at is None:
                # A connection the station did not hear (a replaced Pi, its clock behind
                # the one before): its sets are judged by what it said, not by the held
                # time of the daemon before. Kept, its replayed set (its HIGH alarm) was
                # kept out, unshown and never phoned, until its next live set: hours.
                # Also its Last Will (that connection's time): the new Pi gone since.
                # A status heard before (a daemon that died, an older save) leaves it.
                view.clock, view.clock_by_event = None, False
                if view.kept_set is not None:  # replayed before this `online`
                    self._set(view, view.kept_set, None)
            if msg.time is not None:
                view.said[msg.time] = None
                view.said.move_to_end(msg.time)
            while len(view.said) > KEEP_STATUSES:
                view.said.popitem(last=False)
            # The last sign of life on the chair's clock (its readings', sets', events'): a
            # status's `time` is the wall's (docs/mqtt.md), for a chair behind later than all
            # after it. A Last Will's `time` (the connect) cannot say it; an older daemon has
            # only `time`. A live `online` starts it anew (kept, a replaced Pi read the old's).
            if msg.state == "online" and at is not None:
                view.last_seen, view.chair_clocked = None, False
            if msg.chair_time is not None:
                view.chair_clocked = True
                view.seen(msg.chair_time)
            elif not view.chair_clocked:
                view.seen(msg.time)
            view.online = msg.state == "online"
            view.status_time = msg.time
            # Each `online` says it while it lasts: one without it ends it. An `offline`
            # without it (the Last Will never has it, docs/mqtt.md) leaves it as it was.
            if view.online or msg.conflict is not None:
                view.conflict = msg.conflict
            if not view.online:  # a stream is learnt again once it is back
                view.kind_at.clear()
                view.streams.clear()
        elif isinstance(msg, Reading):
            if at is not None:
                self._pace(view, parts[2], msg.device, at)
            reading = msg.dump()
            view.vitals[parts[2]] = reading
            # The chair's clock when it got the reading: `measured_at` may be a device's,
            # up to 5 min fast, an offline chair's "not monitored since" that much late.
            view.seen(msg.received_at or msg.measured_at)
            if msg.valid is True:
                view.last_valid[parts[2]] = reading
        elif isinstance(msg, ActiveSet):
            if not self._set(view, msg, at):
                return out
        elif isinstance(msg, AlertEvent):
            if at is not None:
                view.heard_time(msg.time, at)
                # Newer than a set kept out: the daemon is live, its set follows.
                view.kept_set = None
            if self._event(view, msg):
                out.events.append({**msg.dump(), "chair": chair_id})
        else:
            said = {k: getattr(msg, k) for k in ANSWER_FIELDS}
            view.errors = [
                *view.errors[-(MAX_ERRORS - 1) :],
                {
                    "time": msg.time,
                    "error": msg.error or "refused",
                    "topic": msg.topic,
                    **{k: v for k, v in said.items() if v is not None},
                    "sent_by": _sent(msg.payload, "by"),
                    # The page words a refused session command by what it was (a second
                    # Dose start is no failure): station.js answerLine.
                    "sent_action": _sent(msg.payload, "action"),
                    # A Start of another protocol than the open session's is no duplicate.
                    "sent_protocol": _sent(msg.payload, "protocol"),
                    # The session open when it came: judged against the chair's session
                    # of later (ended, or the next patient's), a duplicate turned red.
                    "session_then": view.session,
                },
            ]
        out.chairs.add(chair_id)
        return out

    @staticmethod
    def _set(view: ChairView, msg: ActiveSet, at: float | None) -> bool:
        """Apply an active set (`at`: live, or None: replayed); False when kept out."""
        if at is None and msg.time is not None and _kept_out(view, msg.time):
            # A retained set older than an event or set already heard from the chair
            # (or as old as an event heard after the last set: `_kept_out`):
            # the broker kept a set from before it (the daemon died or lost its link
            # between an alarm's event and its set, or the broker restarted from an
            # older save) and replays it at our resubscribe. It would drop an alarm
            # heard live, with no daemon left to bring it back. A chair's clock never
            # goes back (monitord/clock.py), so the held state is the newer one. Unless
            # its connection's `online`, replayed after it, says it is a new one.
            view.kept_set = msg
            return False
        view.kept_set = None  # this set is newer than any kept out
        # The set says who acknowledged (`by`); a daemon older than that says `ack`
        # only: keep the name from the event then.
        who = {a.get("alert_id"): a.get("by") for a in view.alerts if a.get("by")}
        view.alerts = [
            {**a.dump(), "by": who[a.alert_id]}
            if a.ack and a.by is None and a.alert_id in who
            else a.dump()
            for a in msg.alerts
        ]
        view.session = msg.session.dump() if msg.session is not None else None
        # What the station now holds is as of this set: its time, a live one's also
        # back (`clock`); a replayed one applied is not older (`_kept_out`).
        if msg.time is not None:
            view.clock = msg.time
        view.clock_by_event = False  # no event heard after this set
        view.seen(msg.time)
        if at is not None:
            view.heard_time(msg.time, at)
        return True

    def _pace(self, view: ChairView, kind: str, device: str | None, at: float) -> None:
        """A live reading of `kind`: it streams while its readings come at most half of
        SILENT_AFTER_S apart (twice in the window the tile waits)."""
        before = view.kind_at.get(kind)
        view.kind_at[kind] = at
        if before is not None and at - before <= self.silent_after_s / 2:
            view.streams[kind] = device
        else:
            view.streams.pop(kind, None)

    def _stopped(self, view: ChairView, at: float) -> None:
        """The chair is heard at `at`: a kind of reading overdue by more than _pace allows
        stopped at its device, not at the chair (link up, nothing measured), and is no
        stream. Kept, the tile said NOT HEARD 15 s after each later message of a healthy
        chair. A cut network is heard from no more, so its streams stand."""
        half = self.silent_after_s / 2
        for kind in list(view.streams):
            last = view.kind_at.get(kind)
            if last is None or at - last > half:
                del view.streams[kind]

    @staticmethod
    def _event(view: ChairView, ev: AlertEvent) -> bool:
        """An alert event moves the tile at once; the retained active set that follows
        it confirms (and replaces) the list. False: a raise of an episode already over,
        shown to no one (not sent to the pages: `apply`)."""
        if ev.time is not None and not _later(view.clock, ev.time):
            view.clock = ev.time  # at or after what was heard: never back (`clock`)
            view.clock_by_event = True
        view.seen(ev.time)
        if ev.phase is not None and view.session is not None:
            view.session = {**view.session, "phase": ev.phase}
        aid = ev.alert_id
        if aid is None:
            return True  # `pending`: no alert yet
        found = next((a for a in view.alerts if a.get("alert_id") == aid), None)
        if ev.event == "cleared":
            view.alerts = [a for a in view.alerts if a.get("alert_id") != aid]
            view.cleared[aid] = ev.time
            while len(view.cleared) > KEEP_CLEARED:
                view.cleared.popitem(last=False)
        elif ev.event in ("raised", "escalated") and found is None and _over(view, aid, ev.time):
            # Heard after its clear (re-sent after a reconnect, or held behind a refusal
            # while the clear went ahead): re-added, the cleared alarm showed and sounded
            # again until the chair's next active set, which may be hours away. One newer
            # than the clear is shown (an alarm missing is worse than one shown twice).
            # Nor sent to the pages: each page receipts every alert event it is sent, as
            # shown (heard.js), and the daemon took that as the nurse shown an alarm that
            # was over, `sounded` when another alarm sounded (before heard.js asked its own).
            return False
        elif ev.event == "acknowledged":
            if found is not None:
                found["ack"] = True
                found["by"] = ev.by
        elif ev.event in ("raised", "escalated"):
            fields = {k: getattr(ev, k) for k in ("rule", "priority", "kind", "message", "value")}
            if found is None:
                view.alerts.append(
                    {
                        "alert_id": aid,
                        **fields,
                        "state": "active",
                        "ack": False,
                        "raised_t": None,
                        "level": ev.level or 0,
                    }
                )
            else:
                found.update(fields)
                found["level"] = ev.level or found.get("level")
        return True
