"""One chair's broker connection state for the MQTT sink (monitord/sinks/mqtt.py), and
when that connection counts as delivering (not the engine's per-chair state).

A CONNACK is not recovery: a broker that drops the connection at a publish it will not
take (a packet over its `max_packet_size` or `message_size_limit`) accepts every
reconnect, and a chair reconnecting at once forever raised no delivery alarm. So the
link is down (`down_since`, read by monitord/delivery.py) from its first loss until it
delivers: the broker accepted queued alert events, answered one with a refusal (then
`delivery.refused` says the rest), or nothing was left to send. Only then do the
reconnect backoff and the failure log reset (not while another client takes the
connection over: sinks/mqtt_takeover.py).

The outage counts from when the broker stopped answering, not from when the loss was
noticed (an audit found the delivery alarm 40 s after a broker froze, not 30: the loss was
noticed only when the publish's PUBACK wait gave up after `mqtt.timeout_s`). So `asking()`
/ `answered()` follow the publishes the broker must answer (QoS 1 alert events, the active
set, the status): `asked_since` is when the oldest still unanswered went out, or the last
answer after it. One unanswered for `STALL_S` marks the link down from then, before the
timeout ends the connection, and a loss dates from then too, or from paho's unanswered
PINGREQ when nothing else was asked (a frozen broker and no alert to send: found by the
keepalive only, docs/delivery.md has the bound). One timer per wait, none per publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from monitord import __version__
from monitord.aio import within
from monitord.backoff import Backoff
from monitord.log import FailureLog
from monitord.models import Reading, iso
from monitord.sinks.mqtt_events import EventLane
from monitord.sinks.mqtt_takeover import CONFLICT, Takeover

log = logging.getLogger("monitord.sinks.mqtt")

# A publish unanswered this long (s) marks the link down from when it went out: far above
# a PUBACK's round trip on a LAN (ms), far below `delivery_alarm_after_s` (30 s), so the
# alarm still comes at `after_s` from the publish.
STALL_S = 1.0


class ChairClock(Protocol):
    """A chair's clock (monitord/clock.py: `WallClock`, `SimClock`)."""

    def now(self) -> float: ...

    def leapt(self) -> float: ...


class ChairLink:
    def __init__(self, chair: str, backoff: Backoff, clock: ChairClock | None = None) -> None:
        self.chair = chair
        # The chair's clock (monitord/clock.py), on which its alert times are: `status`.
        self.clock = clock
        # Its `leapt()` when the link last went down: a run starts down, so its start's
        # leap counts (`status`). Down from an unanswered publish, as of that publish's
        # wait (`_leapt_asked`): an alarm's event written then is held from there.
        self._leapt_at_down = 0.0
        self._leapt_asked: float | None = None
        self.wake = asyncio.Event()
        self.connected = False
        self.subscribed = False  # the SUBACK for the command topics came back
        self.down_since: float | None = time.monotonic()
        # Told when `down_since` starts or ends (the delivery watch sleeps till told).
        self.on_change: Callable[[], None] | None = None
        self.vitals: dict[str, Reading] = {}
        # Alert events may be waiting in the outbox: the tx task fetches only then (and on
        # connect). Before, every chair's commit woke all 16 chairs' tx tasks into an
        # outbox query each, ahead of the one chair with the alarm.
        self.events_due = True
        # Alert events written on the current connection, waiting for their PUBACKs
        # (sinks/mqtt_events.py): by the tx task, or by an alarm's commit directly.
        self.lane = EventLane(on_write=self.asking, on_answer=self.answered)
        # When the oldest publish still waiting for the broker's answer went out (or the
        # last answer since); None when nothing waits. Monotonic.
        self.asked_since: float | None = None
        self._stall: asyncio.TimerHandle | None = None
        self.active: dict[str, Any] | None = None
        self.active_dirty = False
        # The active set went out while refused alert events were held (sinks/mqtt.py
        # `_tx`): once they are delivered it goes again, after them (`events_delivered`).
        self.set_ahead = False
        # Refused alert events are tried again from this time on (monotonic; None: not
        # held). Until then a new active set and the vitals go out as they come.
        self.events_retry_at: float | None = None
        # The broker's refusal per topic, until a publish on that topic is accepted: the
        # alarm stands while any is refused (an accepted alert event does not end the
        # refusal of the retained active set or the status).
        self.refused_on: dict[str, str] = {}
        # The `online` status (or a discovery document) was refused at connect: it is
        # retried with the active set until the broker takes it. Also set when a takeover
        # ends: the status again, without its `conflict` (`status` below).
        self.announce_due = False
        # Retries of a refused publish: capped at 10 s so a fixed ACL (broker reloaded)
        # is picked up soon; a refusal costs the broker one small packet each.
        self.retry = Backoff(0.5, 10.0)
        # Reconnects, and the connection's own failures: reset when it delivers.
        self.backoff = backoff
        self.flog = FailureLog(log, f"MQTT {chair}")
        self.flog_sub = FailureLog(log, f"MQTT {chair} subscribe")
        self.flog_receipts = FailureLog(log, f"MQTT {chair} receipts")
        # Another client with this chair's client id (sinks/mqtt_takeover.py): held for
        # twice the backoff's cap, longer than the other waits between its connects.
        self.takeover = Takeover(chair, 2 * backoff.cap_s)
        self.takeover.on_end = self._takeover_ended
        self.on_takeover_end: Callable[[str], None] | None = None  # the sink's LinkState

    @property
    def refused(self) -> str | None:
        """The refusals standing, in words; None when the broker takes every topic."""
        return "; ".join(self.refused_on.values()) or None

    def status(self, state: str, *, will: bool = False) -> bytes:
        """The chair's retained `status` (design.md section 6), with `conflict` while
        another client takes its connection over (docs/mqtt.md): two Pis with one chair
        id interleave two patients' vitals under it, and the nurses' station says so on
        the chair's tile. Never in the Last Will (`will`): set at the connect, it outlives
        the takeover's end on that connection, and the broker would publish the conflict,
        over by then, when the Pi goes away unclean; the station keeps a chair's conflict
        through an `offline` without it.

        `chair_time`: the chair's clock as the status is built, just before it is sent
        (its alert times' clock, which can run off the wall clock of `time`), so a station
        that hears it live knows that clock no later than it is: its phone forwarder counts
        an alarm raised while the link was down from its raise, not from when it came;
        `leapt_s` how far that clock leapt forward since the link went down (or since
        the oldest publish the broker left unanswered, when that came first).
        `time` stays the wall clock: its meaning is the contract's (a station reading it as
        the chair's clock from an older daemon would read that clock ahead). Not in the
        Last Will either: its time is the connect's, not when the broker sends it."""
        doc: dict[str, Any] = {"state": state, "time": iso(time.time()), "version": __version__}
        if self.clock is not None and not will:
            # With the leaps it made since the link went down (`leapt_s`): a raise held
            # across them is read that much younger (the station counts from the clock
            # less them), not older (an hour's step followed: phoned at once). Not taken
            # off `chair_time` itself: the station's page counts the chair's durations
            # on it, and the chair's readings after the leap read an hour old (and a BP
            # before it due an hour late) until its next active set or alert event.
            leaps = max(0.0, self.clock.leapt() - self._leapt_at_down)
            doc["chair_time"] = iso(self.clock.now())
            if leaps > 0:
                doc["leapt_s"] = math.ceil(leaps * 1000.0) / 1000.0  # never less
        if self.takeover.active and not will:
            doc["conflict"] = CONFLICT
        return json.dumps(doc).encode()

    def up(self) -> None:
        """Connected (CONNACK): not yet delivering."""
        self.connected = True
        self.takeover.connected()

    def hold_events(self) -> bool:
        """The broker refused an alert event: the events are tried again after the
        backoff (`retry`); True (they are held)."""
        self.events_retry_at = time.monotonic() + self.retry.next_delay()
        return True

    def events_held(self) -> bool:
        """Refused events still wait for their retry."""
        if self.events_retry_at is not None and time.monotonic() < self.events_retry_at:
            return True
        self.events_retry_at = None
        return False

    async def held_wait(self) -> None:
        """Until the held events' retry, or sooner when woken: a new active set (an alarm
        raised or acknowledged) and the readings go out at once, not at the events'
        backoff of up to 10 s (the station learns of the alarm from the set)."""
        if self.events_retry_at is not None:
            with contextlib.suppress(TimeoutError):
                await within(self.wake.wait(), self.events_retry_at - time.monotonic())

    def events_delivered(self) -> None:
        """Alert events were delivered. Held by a refusal while the active set went ahead
        of them, they are followed by the set again: the station applies each event to
        the tile (a raise, the session phase it carries), and without a set after them it
        kept the state of the last old event until the chair's set next changed. `_tx`
        publishes the set once no event is left to write."""
        if self.set_ahead:
            self.set_ahead = False
            self.active_dirty = True

    def delivering(self) -> None:
        """The connection delivers: up for the delivery alarm; a later loss starts a new
        outage."""
        if self.down_since is None:
            return
        self.down_since = None
        # Taken over, each connection delivers until the other client takes it again: the
        # backoff keeps growing (the two would hammer the broker) and the log quiet.
        if not self.takeover.active:
            self.backoff.reset()
            self.flog.success()
        self._changed()

    def _takeover_ended(self) -> None:
        self.backoff.reset()
        self.flog.success("connection held: no other client takes it over now")
        # Held, so connected: the tx task publishes the status without `conflict` on this
        # connection, after any alert events and the active set waiting (alerts first).
        self.announce_due = True
        self.wake.set()
        if self.on_takeover_end is not None:
            self.on_takeover_end(self.chair)

    def down(self, ping_since: float | None = None) -> None:
        """The connection is lost. `ping_since`: when a PINGREQ went out that the broker
        never answered (paho's keepalive), if one did."""
        # An outage runs from the last time the link delivered, through any reconnects
        # that delivered nothing; it began when the broker stopped answering, at the
        # latest now.
        if self.down_since is None:
            asked = [t for t in (self.asked_since, ping_since) if t is not None]
            self.down_since = min([time.monotonic(), *asked])
            self._leapt_down()
            self._changed()
        self._done_asking()
        self.takeover.cancel()  # a clean stop too: no timer left behind
        self.connected = False
        self.subscribed = False
        # `vitals` is kept: the newest reading of each kind goes out on the next
        # connection (sinks/mqtt.py `publish_vitals`).

    # -- is the broker answering? -------------------------------------------------------
    def _leapt_now(self) -> float | None:
        return None if self.clock is None else self.clock.leapt()

    def _leapt_down(self) -> None:
        """The link went down: its clock's leaps from here, or from the wait of the oldest
        publish still unanswered (a raise written when the broker froze is held from its
        write: taken at the timeout's end, a simulated chair at speed 10 had leapt 90 s
        over its `timeout_s` of 10, read as its age: phoned at once)."""
        at = [x for x in (self._leapt_now(), self._leapt_asked) if x is not None]
        self._leapt_at_down = min(at, default=0.0)

    def asking(self) -> None:
        """A publish went out that the broker must answer (a PUBACK)."""
        if self.asked_since is None:
            self.asked_since = time.monotonic()
            self._leapt_asked = self._leapt_now()
            if self._stall is None:
                self._stall = asyncio.get_running_loop().call_later(STALL_S, self._stalled)

    def answered(self, more: bool) -> None:
        """The broker answered a publish; `more`: others still wait (their wait counts
        from this answer: the broker was there)."""
        if more:
            self.asked_since = time.monotonic()
            self._leapt_asked = self._leapt_now()
        else:
            self._done_asking()

    def _done_asking(self) -> None:
        self.asked_since = self._leapt_asked = None
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        since = self.asked_since
        if since is None:
            return
        wait = since + STALL_S - time.monotonic()
        if wait > 0:  # answers came meanwhile: the newest wait is younger
            self._stall = asyncio.get_running_loop().call_later(wait, self._stalled)
        elif self.down_since is None:
            # Down from the unanswered publish: the delivery watch counts `after_s` from
            # it. An answer that comes after all makes it deliver again (`delivering`).
            self.down_since = since
            self._leapt_down()
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
