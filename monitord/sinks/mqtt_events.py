"""Alert events on one chair's MQTT connection: written in record order, each PUBACK
awaited before its record is marked delivered (monitord/sinks/mqtt.py).

Two writers feed a chair's lane:
- the chair's tx task, which fetches what the outbox holds for the chair (after a
  (re)connect, a refusal, a backlog, or a commit it could not write at once; no timed
  look: every commit tells the sink, see below);
- the alarm's commit: `MqttSink.on_batch` runs on the loop once the transaction holding
  the alert events has returned (durable before delivered), with the events as stored
  records (`CommittedBatch.stored`), and writes them to the socket at once when the lane
  is caught up. Before (issue 20), the commit woke the tx task, which queried the outbox
  for them: a loop turn and a query on every alarm's path (~0.3 ms median under 16
  streaming chairs, p99 1.5 ms with a slow disk).

The outbox stays the source of truth: nothing is marked delivered before the broker's
PUBACK, so an event written but not acknowledged (the connection dropped, the daemon
crashed) is fetched and sent again, and after a restart the pending rows go out in order.

Order and "once per connection": a chair's records are written in id order, and `high` is
the highest id written on this connection. So a record that the tx task fetched (it was
committed just before the fetch, its commit's callback still queued) and that its commit
then hands over too is written once. The lane is `caught_up` once a fetch found nothing
beyond what it wrote: every older record of the chair is then written on this connection
or delivered, and once none waits for its PUBACK either, the commit may write the newer
ones itself (a PUBACK refusing an older event must keep the newer ones back, so that
nothing after a refused event goes out first: docs/delivery.md). That holds because every
commit of alert events tells the sink, in commit order (monitord/storeguard.py: a batch's
`done` after its transaction, in order; a held batch's once the disk takes it). A refusal
(the broker's ACL) or a failed write ends that: the tx task takes over from the refused
record, in order.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from monitord.mqttv5 import V5Client
from monitord.outbox import StoredAlert


@dataclass(frozen=True, slots=True)
class Written:
    """An event on the socket, waiting for its PUBACK."""

    row: StoredAlert
    event: dict[str, Any]  # the payload as sent (receipts match it)
    info: paho.MQTTMessageInfo


class EventLane:
    """One chair's alert events on its current connection (reset at each connect)."""

    def __init__(
        self,
        on_write: Callable[[], None] | None = None,
        on_answer: Callable[[bool], None] | None = None,
    ) -> None:
        # Told when an event went out, and at each PUBACK (whether more wait): the link
        # knows since when the broker leaves its publishes unanswered (sinks/mqtt_link.py).
        self.on_write = on_write
        self.on_answer = on_answer
        self.client: V5Client | None = None
        self.high = 0  # the highest record id written on this connection
        self.caught_up = False  # every older record is written here or delivered
        self.unacked: deque[Written] = deque()

    def open(self, client: V5Client) -> None:
        """A new connection: nothing is written on it yet, the tx task fetches first."""
        self.client, self.high, self.caught_up = client, 0, False
        self.unacked.clear()

    def close(self) -> None:
        """The connection ended: what was not acknowledged is fetched again next time."""
        self.client, self.high, self.caught_up = None, 0, False
        self.unacked.clear()

    def fresh(self, rows: Sequence[StoredAlert]) -> list[StoredAlert]:
        """Of `rows` (in id order), those not yet written on this connection."""
        return [r for r in rows if r.id > self.high]

    def write(self, topic: str, rows: Sequence[StoredAlert]) -> BaseException | None:
        """Write `rows` (fresh, in id order) to the socket now, in order, without a loop
        turn (`publish_now`); None, or the error that stopped it (the connection: what
        was written may still be acknowledged)."""
        assert self.client is not None
        for row in rows:
            ev = row.event.to_mqtt()
            try:
                info = self.client.publish_now(topic, json.dumps(ev).encode(), 1, False)
            except Exception as e:
                self.caught_up = False
                return e
            self.high = row.id
            self.unacked.append(Written(row, ev, info))
            if self.on_write is not None:
                self.on_write()
        return None

    async def settle(
        self, topic: str, accepted: Callable[[list[Written]], None]
    ) -> BaseException | None:
        """Wait for the PUBACKs of what was written, in order (events written meanwhile
        are waited for too); `accepted` gets those the broker took (also when the wait is
        cancelled). Returns None, or the failure: a refused event and every one written
        after it are dropped from the lane and `high` goes back before it, so the tx task
        sends them again, in order."""
        assert self.client is not None
        done: list[Written] = []
        try:
            while self.unacked:
                w = self.unacked[0]
                try:
                    await self.client.wait_acked(topic, w.info)
                except Exception as e:
                    self.high = w.row.id - 1
                    self.caught_up = False
                    self.unacked.clear()
                    return e
                self.unacked.popleft()
                done.append(w)
                if self.on_answer is not None:
                    self.on_answer(bool(self.unacked))
            return None
        finally:
            if done:
                accepted(done)
