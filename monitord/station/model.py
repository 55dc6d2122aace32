"""The live state of every chair of a site, fed by MQTT messages (no I/O, no clock).

`StationModel.apply(topic, payload)` takes one message of `{prefix}/{site}/...` and returns
what changed: the chairs whose tile must be redrawn and the alert events to show (each
one is shown by the browsers, which then send a receipt). Chairs are discovered from the
topics: a station config lists none. Messages marked `"doctor": true` (the test messages
of `monitord doctor`) are ignored. Every other message is screened into its typed shape
first (messages.py): one that does not validate changes nothing, the chair keeps its last
good state, and the caller logs why (`Changes.rejected`, once per topic: bridge.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitord.station import messages
from monitord.station.messages import ActiveSet, AlertEvent, Reading, Status

PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
CHAIR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The last refusals kept per chair (shown in words on its tile).
MAX_ERRORS = 3


@dataclass
class ChairView:
    id: str
    online: bool | None = None  # None: no status seen yet
    status_time: str | None = None
    vitals: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    session: dict[str, Any] | None = None
    clock: str | None = None  # the chair's time of its last active set or event
    errors: list[dict[str, Any]] = field(default_factory=list)
    # The last valid reading per kind: an invalid one (device or artifact check) is shown
    # marked, never as the chair's current value, so the one before it must be kept.
    last_valid: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The latest chair time seen (status, vitals, alert set or event): when it goes
    # offline, the tile says "not monitored since" this. A Last Will's own `time` is when
    # the daemon connected (the broker keeps the will from then), so it cannot say it.
    last_seen: str | None = None

    def to_json(self) -> dict[str, Any]:
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
        }

    def seen(self, t: Any) -> None:
        if _later(t, self.last_seen):
            self.last_seen = t


def natural_key(chair_id: str) -> tuple[tuple[int, int, str], ...]:
    """chair-2 before chair-10: digit runs compare as numbers (station.js sorts alike)."""
    return tuple(
        (1, int(run), run) if run.isdigit() else (0, 0, run)
        for run in re.findall(r"\d+|\D+", chair_id)
    )


def _epoch(t: Any) -> float | None:
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _later(t: Any, than: str | None) -> bool:
    e = _epoch(t)
    return e is not None and (than is None or e > (_epoch(than) or 0.0))


def sorted_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest priority first, then the oldest raised first (one learnt from an event,
    not yet in an active set, has no `raised_t`: first of its priority)."""

    def key(a: dict[str, Any]) -> tuple[int, float]:
        t = a.get("raised_t")
        # Validated finite numbers (messages.py); anything else sorts as 0, never raises.
        when = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else 0.0
        return (PRIORITY_ORDER.get(str(a.get("priority")), 9), when)

    return sorted(alerts, key=key)


@dataclass
class Changes:
    chairs: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)  # alert events, with "chair"
    stations: bool = False
    rejected: str | None = None  # why a message was ignored, for the log


class StationModel:
    def __init__(self, prefix: str, site: str) -> None:
        self.base = f"{prefix}/{site}/"
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

    def snapshot(self) -> dict[str, Any]:
        return {
            "chairs": [self.chairs[c].to_json() for c in sorted(self.chairs, key=natural_key)],
            "stations": self.stations,
        }

    def apply(self, topic: str, payload: bytes) -> Changes:
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
        if isinstance(msg, Status):
            view.seen(msg.time)
            view.online = msg.state == "online"
            view.status_time = msg.time
        elif isinstance(msg, Reading):
            reading = msg.dump()
            view.vitals[parts[2]] = reading
            view.seen(msg.measured_at)
            if msg.valid is True:
                view.last_valid[parts[2]] = reading
        elif isinstance(msg, ActiveSet):
            # The active set says `ack` but not who: keep the name from the event.
            who = {a.get("alert_id"): a.get("by") for a in view.alerts if a.get("by")}
            view.alerts = [
                {**a.dump(), "by": who[a.alert_id]} if a.ack and a.alert_id in who else a.dump()
                for a in msg.alerts
            ]
            view.session = msg.session.dump() if msg.session is not None else None
            view.clock = msg.time or view.clock
            view.seen(msg.time)
        elif isinstance(msg, AlertEvent):
            self._event(view, msg)
            out.events.append({**msg.dump(), "chair": chair_id})
        else:
            view.errors = [
                *view.errors[-(MAX_ERRORS - 1) :],
                {"time": msg.time, "error": msg.error or "refused", "topic": msg.topic},
            ]
        out.chairs.add(chair_id)
        return out

    @staticmethod
    def _event(view: ChairView, ev: AlertEvent) -> None:
        """An alert event moves the tile at once; the retained active set that follows
        it confirms (and replaces) the list."""
        view.clock = ev.time or view.clock
        view.seen(ev.time)
        if ev.phase is not None and view.session is not None:
            view.session = {**view.session, "phase": ev.phase}
        aid = ev.alert_id
        if aid is None:
            return  # `pending`: no alert yet
        found = next((a for a in view.alerts if a.get("alert_id") == aid), None)
        if ev.event == "cleared":
            view.alerts = [a for a in view.alerts if a.get("alert_id") != aid]
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
