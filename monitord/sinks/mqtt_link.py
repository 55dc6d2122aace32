"""One chair's broker connection state for the MQTT sink (monitord/sinks/mqtt.py), and
when that connection counts as delivering (not the engine's per-chair state).

A CONNACK is not recovery: a broker that drops the connection at a publish it will not
take (a packet over its `max_packet_size` or `message_size_limit`) accepts every
reconnect, and a chair reconnecting at once forever raised no delivery alarm. So the
link is down (`down_since`, read by monitord/delivery.py) from its first loss until it
delivers: the broker accepted queued alert events, answered one with a refusal (then
`delivery.refused` says the rest), or nothing was left to send. Only then do the
reconnect backoff and the failure log reset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from monitord.backoff import Backoff
from monitord.log import FailureLog
from monitord.models import Reading
from monitord.sinks.mqtt_events import EventLane

log = logging.getLogger("monitord.sinks.mqtt")


class ChairLink:
    def __init__(self, chair: str, backoff: Backoff) -> None:
        self.chair = chair
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
        self.lane = EventLane()
        self.active: dict[str, Any] | None = None
        self.active_dirty = False
        self.refused: str | None = None  # the broker's last refusal, until one is accepted
        # Retries of a refused publish: capped at 10 s so a fixed ACL (broker reloaded)
        # is picked up soon; a refusal costs the broker one small packet each.
        self.retry = Backoff(0.5, 10.0)
        # Reconnects, and the connection's own failures: reset when it delivers.
        self.backoff = backoff
        self.flog = FailureLog(log, f"MQTT {chair}")
        self.flog_sub = FailureLog(log, f"MQTT {chair} subscribe")
        self.flog_receipts = FailureLog(log, f"MQTT {chair} receipts")

    def up(self) -> None:
        """Connected (CONNACK): not yet delivering."""
        self.connected = True

    def delivering(self) -> None:
        """The connection delivers: up for the delivery alarm; a later loss starts a new
        outage."""
        if self.down_since is None:
            return
        self.down_since = None
        self.backoff.reset()
        self.flog.success()
        self._changed()

    def down(self) -> None:
        # An outage runs from the last time the link delivered, through any reconnects
        # that delivered nothing.
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._changed()
        self.connected = False
        self.subscribed = False
        self.vitals.clear()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
