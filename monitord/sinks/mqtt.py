"""MQTT publisher and command listener (design.md section 6), aiomqtt 2.x.

One broker connection per chair under `{prefix}/{site}/{chair}`: MQTT allows one Last Will
per connection, and each chair's `status` must fall to `offline` on its own.

| topic            | QoS / retain  | source                                               |
|------------------|---------------|------------------------------------------------------|
| `status`         | 1, retained   | `online` on connect; Last Will and clean stop `offline`|
| `vitals/{kind}`  | 0, retained   | `publish_vitals()`: latest per kind, best effort       |
| `alerts/events`  | 1             | the outbox (`mqtt` rows), in order, original time/id;  |
|                  |               | an alarm's from its commit (sinks/mqtt_events.py)      |
| `alerts/active`  | 1, retained   | `set_active()`; republished on every (re)connect       |
| `cmd/ack`, `cmd/session` (in) | 1 | screened (sinks/commands.py) -> `on_command(chair, cmd)` |
| `cmd/errors`     | 1             | one message per rejected command                       |
| `alerts/receipts` (in) | 1       | stations' receipts (monitord/receipts.py)             |
| `{prefix}/{site}/stations/+` (in) | 1, retained | stations' online/offline status    |

Every connection is MQTT v5 (monitord/mqttv5.py) so the PUBACK's reason code is read: a
publish the broker refused (0x87 not authorized by its ACL, ...) is not delivered. The
event stays in the outbox, `on_refusal` tells the delivery watch at once (technical alarm
`delivery.refused`, monitord/delivery.py), and it is tried again with backoff on the same
connection (later events wait, the active set and vitals do not); the alarm stands until
every refused topic took a publish (an ACL may lack one line). Receipts and statuses marked
`"doctor": true` (`monitord doctor`'s round trip) are ignored; commands are screened as
always (doctor sends none).

The session is persistent (clean start off, a session expiry) so commands sent while we were away
are delivered on reconnect. A command that arrives with the retain flag came from the
broker's retained store because we (re)subscribed: it is refused on `cmd/errors`, cleared,
and never executed (a retained `end` would end the open session at every reconnect).
Alert events leave the outbox only after the broker's PUBACK; a connection lost in between
re-sends them (at-least-once; `alert_id` + `event` identify a duplicate).

What arrives (receipts, station statuses, commands) is handled by sinks/mqtt_incoming.py;
connection failures are classified with advice by sinks/mqtt_errors.py, and another client
taking a chair's connection over (its client id in use twice) by sinks/mqtt_takeover.py.
Each chair's connection is made (login, TLS, session, Will) and kept (reconnect, backoff)
by sinks/mqtt_connect.py.

The delivery alarm is not decided here: `down_since()` tells monitord/delivery.py how long
the alert link has not delivered (a reconnect alone does not count: `ChairLink.delivering`
in sinks/mqtt_link.py), and the alarm is one of the daemon's technical alarms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiomqtt

from monitord.backoff import Backoff
from monitord.config import MqttConfig
from monitord.hub import CommittedBatch
from monitord.models import Reading, iso
from monitord.mqttv5 import PublishRefused, V5Client
from monitord.netaddr import hostport
from monitord.outbox import Outbox, StoredAlert
from monitord.receipts import SETTLE_S, Receipts
from monitord.sinks.commands import AckCommand, Command, CommandError, SessionCommand, parse_command
from monitord.sinks.homeassistant import discovery
from monitord.sinks.linkstate import LinkState
from monitord.sinks.mqtt_connect import Connector, Login
from monitord.sinks.mqtt_errors import check_suback, describe_error, nodelay, refusal_text
from monitord.sinks.mqtt_events import Written
from monitord.sinks.mqtt_incoming import Incoming, MqttStats, OnCommand
from monitord.sinks.mqtt_link import ChairClock, ChairLink

__all__ = [
    "AckCommand",
    "Command",
    "CommandError",
    "MqttSink",
    "MqttStats",
    "OnCommand",
    "SessionCommand",
    "describe_error",
    "parse_command",
]

_describe = describe_error  # its old name (tests/delivery/test_mqtt_error_class.py)
log = logging.getLogger("monitord.sinks.mqtt")
EVENT_BATCH = 100
# -- commands: models and screening live in sinks/commands.py --------------------------
# (chair, the refusal in words with its fix) when the broker refuses a publish; (chair,
# None) when a publish is accepted again.
OnRefusal = Callable[[str, str | None], None]


class MqttSink:
    def __init__(
        self,
        cfg: MqttConfig,
        site: str,
        chairs: Sequence[str],
        outbox: Outbox,
        on_command: OnCommand,
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        logins: dict[str, Login] | None = None,
        receipts: Receipts | None = None,
        on_refusal: OnRefusal | None = None,
        on_link: Callable[[], None] | None = None,
        clocks: Mapping[str, ChairClock] | None = None,  # chair -> its clock (`chair_time`)
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.outbox = outbox
        self.on_command = on_command
        self.stats = MqttStats()
        self._chairs = {
            c: ChairLink(c, Backoff(backoff_base_s, backoff_cap_s), (clocks or {}).get(c))
            for c in chairs
        }
        # Told when a chair's link goes down or delivers again (the delivery watch).
        self.on_link = on_link
        # For `monitord status` (sinks/linkstate.py): the daemon sets its `on_change`.
        self.link = LinkState(f"broker {hostport(cfg.host, cfg.port)}", chairs)
        for link in self._chairs.values():
            link.on_change = self._link_changed
            link.on_takeover_end = self.link.kept
        # Makes and keeps each chair's connection (sinks/mqtt_connect.py).
        self.connector = Connector(
            cfg, site, logins or {}, self.stats, self.link, outbox, self.base
        )
        self.connector.on_connack = self.connected_with_will
        self.receipts = receipts or Receipts(cfg.receipt_timeout_s)
        self.on_refusal = on_refusal
        # Chairs with a publish the broker accepted in this run: it keeps their retained
        # status and active set (monitord/storeroutes.py says so when one departs).
        self._reached: set[str] = set()
        self._told: set[str] = set()  # those `on_reached` was called for
        # Chairs whose connection the broker accepted (CONNACK) in this run: it holds their
        # retained Last Will (`offline` on status) and publishes it on an unclean drop,
        # also of a connection none of whose publishes it had accepted yet (cut within a
        # round trip): that chair's status stays OFFLINE on the broker all the same.
        self._connected: set[str] = set()
        # ... unless the broker refused a publish of theirs on that status topic: mosquitto
        # checks a will against the login's ACL as a publish when it sends it (context.c,
        # context__send_will): refused then, the will is too (a chair id typed wrong).
        self._status_refused: set[str] = set()
        # Told when `reached()` first has a chair, and when a refusal takes it out again
        # (the daemon records either at once).
        self.on_reached: Callable[[str], None] | None = None
        self.incoming = Incoming(
            cfg.prefix, site, self.receipts, on_command, self.stats, cfg.command_max_age_s
        )

    def _link_changed(self) -> None:
        if self.on_link is not None:
            self.on_link()

    # -- topics --------------------------------------------------------------------------
    def base(self, chair: str) -> str:
        return f"{self.cfg.prefix}/{self.site}/{chair}"

    # -- API for the daemon --------------------------------------------------------------
    def on_batch(self, batch: CommittedBatch) -> None:
        """Hub listener (monitord/hub.py): the alert events just committed, live vitals of
        what was committed, the chair's active set when it changed. A batch the full disk
        holds shows its active set only: nothing is queued yet."""
        if batch.durable and batch.stored:  # first: the alarm's path (issue 20)
            self._send_now(batch.chair, batch.stored)
        if batch.durable:
            for r in batch.readings:
                if not r.stored:  # live vitals only: a memory record is not the patient now
                    self.publish_vitals(r)
        if batch.active is not None:
            self.set_active(batch.chair, list(batch.active), batch.t, session=batch.session)
        if batch.durable and batch.events and not batch.stored:
            # Only alert events are routed to MQTT: a batch without any queued nothing.
            self.wake(batch.chair)

    def _send_now(self, chair: str, rows: Sequence[StoredAlert]) -> None:
        """Write committed events to the chair's connection now if every older one is
        delivered (sinks/mqtt_events.py; the tx task then waits for their PUBACKs); else
        (down, a backlog, a refusal, a PUBACK still awaited) the tx task sends them from
        the outbox. A broken socket: the tx task hits it too and reconnects."""
        c = self._chairs[chair]
        lane = c.lane
        if lane.client is not None and lane.caught_up and not lane.unacked and c.connected:
            if lane.write(f"{self.base(chair)}/alerts/events", lane.fresh(rows)) is None:
                c.wake.set()  # the tx task: PUBACKs, marks, then the active set
                return
        c.events_due = True
        c.wake.set()

    def wake(self, chair: str | None = None) -> None:
        """New alert events were committed to the outbox (for `chair`, or any chair)."""
        chairs = self._chairs.values() if chair is None else [self._chairs[chair]]
        for c in chairs:
            c.events_due = True
            c.wake.set()

    def publish_vitals(self, reading: Reading) -> None:
        """Latest value per kind, QoS 0 retained; one superseded before it went out is
        dropped (counted). Never blocks, never raises.

        While the chair's link is down the newest of each kind waits for it (at most one
        per kind, never a queue) and goes out once it is back, after the alerts: dropped
        too, the broker kept the value from before the outage as the chair's last (a BP
        taken during a broker restart was not on `vitals/bp` until the next cycle)."""
        c = self._chairs.get(reading.chair)
        if c is None:
            self.stats.vitals_dropped += 1
            return
        if str(reading.kind) in c.vitals:
            self.stats.vitals_dropped += 1  # superseded before it went out
        c.vitals[str(reading.kind)] = reading
        if c.connected:
            c.wake.set()

    def set_active(
        self,
        chair: str,
        alerts: list[dict[str, Any]],
        t: float | None = None,
        *,
        session: dict[str, Any] | None = None,
    ) -> None:
        """The chair's active alert set changed (published retained; again on reconnect).
        `session` (phase, dose times ...) rides along for the nurses' station."""
        c = self._chairs.get(chair)
        if c is None:
            raise KeyError(f"unknown chair {chair!r}")
        c.active = {"time": iso(time.time() if t is None else t), "alerts": list(alerts)}
        if session is not None:
            c.active["session"] = session
        c.active_dirty = True
        c.wake.set()

    def down_since(self) -> float | None:
        """Since when (monotonic) the longest-down chair's link has not delivered (from
        when the broker stopped answering: sinks/mqtt_link.py); None when every chair's
        delivers (for the delivery alarm, monitord/delivery.py)."""
        downs = [c.down_since for c in self._chairs.values() if c.down_since is not None]
        return min(downs) if downs else None

    @property
    def connected(self) -> bool:
        return all(c.connected for c in self._chairs.values())

    @property
    def subscribed(self) -> bool:
        """Every chair's command subscriptions are in place (a nurse command sent now is
        taken; one sent between CONNACK and SUBACK of a first session is not)."""
        return all(c.subscribed for c in self._chairs.values())

    # -- main loop -----------------------------------------------------------------------
    async def run(self) -> None:
        def connect(chair: str) -> V5Client:
            # `_client` looked up at each connect: a test wraps it (test_mqtt_stop_leaving.py).
            return self._client(chair)

        tasks = [
            asyncio.create_task(self.connector.keep(c, connect, self._serve))
            for c in self._chairs.values()
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def login(self, chair: str) -> Login:
        return self.connector.login(chair)

    def _client(self, chair: str) -> V5Client:
        return self.connector.client(self._chairs[chair])

    # -- refusals (MQTT v5 reason codes) ------------------------------------------------
    def _refused(self, c: ChairLink, e: PublishRefused) -> None:
        c.answered(bool(c.lane.unacked))  # a refusal is an answer
        c.delivering()  # the broker answered: delivery.refused says the rest
        text = refusal_text(e, self.login(c.chair)[0] or "(anonymous)")
        untold = False
        if e.topic == f"{self.base(c.chair)}/status":
            self._status_refused.add(c.chair)
            if untold := (c.chair in self._told and c.chair not in self.reached()):
                self._told.discard(c.chair)  # told again if a later publish is accepted
        self.stats.refused += 1
        first = not c.refused_on
        c.refused_on[e.topic] = text
        # The daemon's delivery alarm says it at CRITICAL (on_refusal); alone, say it once.
        level = logging.WARNING if first and self.on_refusal is None else logging.DEBUG
        log.log(level, "MQTT %s: %s", c.chair, text)
        if self.on_refusal is not None:
            self.on_refusal(c.chair, c.refused)
        if untold and self.on_reached is not None:
            # Its CONNACK was recorded as reached: the row now says refused and not reached
            # at once: else a Pi losing power before the next status write (15 s and more
            # on an idle daemon) said at the next id change that the broker keeps its state.
            self.on_reached(c.chair)

    def connected_with_will(self, chair: str) -> None:
        """CONNACK: the broker holds `chair`'s retained will from now on (`_connected`)."""
        self._connected.add(chair)
        self._told_reached(chair)

    def _told_reached(self, chair: str) -> None:
        if chair not in self._told and chair in self.reached():
            self._told.add(chair)
            if self.on_reached is not None:
                self.on_reached(chair)

    def _accepted(self, c: ChairLink, topic: str) -> None:
        """A publish on `topic` accepted: that topic's refusal ends, not another's."""
        self._reached.add(c.chair)
        self._told_reached(c.chair)
        was = c.refused_on.pop(topic, None)
        if not c.refused_on:
            c.retry.reset()
        if was is None:
            return
        if not c.refused_on:
            log.warning("MQTT %s: the broker accepts this chair's publishes again", c.chair)
        if self.on_refusal is not None:
            self.on_refusal(c.chair, c.refused)  # None: nothing refused any more

    async def _checked(
        self, c: ChairLink, client: V5Client, topic: str, payload: bytes, retain: bool
    ) -> bool:
        """A QoS 1 publish whose refusal is a delivery failure, not a lost connection:
        True when accepted."""
        c.asking()
        try:
            await client.publish_acked(topic, payload, 1, retain)
        except PublishRefused as e:
            self._refused(c, e)
            return False
        c.answered(bool(c.lane.unacked))  # an alarm's commit may have written meanwhile
        self._accepted(c, topic)
        return True

    def reached(self) -> set[str]:
        """The chairs of which the broker may keep retained state from this run: a publish
        of theirs accepted, or their connection accepted with its retained will and no
        publish on the will's topic refused (under one ACL the will is refused too)."""
        return self._reached | (self._connected - self._status_refused)

    def refusals(self) -> dict[str, str]:
        return {c.chair: c.refused for c in self._chairs.values() if c.refused is not None}

    async def _announce(self, c: ChairLink, client: V5Client) -> bool:
        """`online` status and HA discovery: False when refused (retried in `_tx`)."""
        base = self.base(c.chair)
        ok = await self._checked(c, client, f"{base}/status", c.status("online"), True)
        if self.cfg.ha_discovery:
            for topic, doc in discovery(self.cfg.ha_prefix, base, self.site, c.chair):
                ok = await self._checked(c, client, topic, json.dumps(doc).encode(), True) and ok
        return ok

    async def _serve(self, c: ChairLink, client: V5Client) -> None:
        base = self.base(c.chair)
        nodelay(client)
        subs = self.incoming.subscriptions(c.chair)  # retain as published, see there
        wanted = [t for t, _ in subs]
        granted = await client.subscribe(subs)
        check_suback(c.flog_sub, self.login(c.chair)[0], wanted, granted)
        # After the SUBACK, not at connect: a command sent before this line is not queued
        # for us (first connection), so this is the moment a station may send one.
        c.subscribed = True
        log.info("MQTT %s: subscribed to %s/cmd/ack and cmd/session", c.chair, base)
        # "online" only now: a station that sees it may send a command at once.
        # A takeover ending during it asks for the status again (see `_tx`).
        c.announce_due = False
        c.announce_due = not await self._announce(c, client) or c.announce_due
        if self.receipts.subscribed_at is None:
            self.receipts.subscribed_at = time.monotonic()
            # Whoever shows "no station online" is told when it means something.
            asyncio.get_running_loop().call_later(SETTLE_S + 0.01, self.receipts.settled)
        if c.active is not None:
            c.active_dirty = True  # republish on every reconnect
        c.set_ahead, c.events_retry_at = False, None  # the events go first on it, at once
        c.events_due = True  # whatever waited while we were away
        c.lane.open(client)  # not caught up: the tx task fetches first
        rx = asyncio.create_task(self._rx(c, client))
        tx = asyncio.create_task(self._tx(c, client))
        try:
            done, _ = await asyncio.wait((rx, tx), return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # re-raise the MqttError that ended it
        finally:
            c.lane.close()  # nothing is written on a connection that ended
            for t in (rx, tx):
                t.cancel()
            await asyncio.gather(rx, tx, return_exceptions=True)

    async def _tx(self, c: ChairLink, client: V5Client) -> None:
        base = self.base(c.chair)
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                # A stop that a library's asyncio.wait_for swallowed (Python 3.11, e.g. in
                # a publish): honour it, or `monitord run` hangs on SIGTERM (monitord/aio.py).
                raise asyncio.CancelledError
            c.wake.clear()
            # 1. alert events written (by an alarm's commit, or below): their PUBACKs
            held = c.events_held()  # refused: tried again only at their retry time
            if c.lane.unacked:
                if await self._settle(c):
                    continue
                # Refused: no later event goes out before it (order), but the active set
                # and the vitals do, as they come (their topics may be allowed: the
                # station learns of the alarm from the set); the events after a backoff.
                held = c.hold_events()
            # 2. queued alert events, in order, each confirmed by the broker
            if c.events_due and not held:
                c.events_due = False
                rows = self.outbox.fetch("mqtt", EVENT_BATCH, chair=c.chair)
                if rows:
                    c.events_due = True  # look again after these (more than EVENT_BATCH?)
                # Only alert events are routed here (monitord/store/codec.py ROUTES).
                alerts = [r for r in rows if isinstance(r, StoredAlert)]
                assert len(alerts) == len(rows), "a non-alert record was routed to MQTT"
                fresh = c.lane.fresh(alerts)
                err = c.lane.write(f"{base}/alerts/events", fresh)
                if err is not None:
                    await self._settle(c)  # the connection: what it took may be acked
                    raise err
                # All older events are written or delivered: an alarm's commit may now
                # write its own at once (sinks/mqtt_events.py).
                c.lane.caught_up = len(rows) < EVENT_BATCH
                if fresh:
                    continue
            # 3. the active set, after the events that led to it; a refused status again
            refused = False
            if c.active_dirty and c.active is not None:
                c.active_dirty = False
                try:
                    ok = await self._checked(
                        c, client, f"{base}/alerts/active", json.dumps(c.active).encode(), True
                    )
                except BaseException:
                    c.active_dirty = True
                    raise
                c.active_dirty = refused = not ok
                c.set_ahead |= ok and held  # ahead of held events: again after them
            if c.announce_due:
                # Cleared first: a takeover ending during the publish asks for it again
                # (its status without `conflict`: ChairLink._takeover_ended).
                c.announce_due = False
                ok = await self._announce(c, client)
                refused = refused or not ok
                c.announce_due = not ok or c.announce_due
            # 4. live vitals, best effort (QoS 0: written now, nothing to wait for)
            while c.vitals:
                kind, r = c.vitals.popitem()
                client.publish_now(
                    f"{base}/vitals/{kind}", json.dumps(r.to_json()).encode(), 0, True
                )
                self.stats.vitals_sent += 1
            if refused or held:  # a refused set or status: its backoff; held events: theirs
                await (asyncio.sleep(c.retry.next_delay()) if refused else c.held_wait())
                continue
            # Nothing left to send: everything queued was delivered on this connection.
            c.delivering()
            # Until told: every commit of alert events tells the sink (on_batch), and a
            # (re)connect or a refusal sets `events_due` itself (sinks/mqtt_events.py).
            # No timed look at the outbox: it cost each chair a query a second (issue 20).
            await c.wake.wait()

    async def _settle(self, c: ChairLink) -> bool:
        """Wait for the PUBACKs of the events written on the chair's lane, in order, and
        mark delivered those the broker accepted. True when all were accepted; False on a
        refusal (they go again, in order, from the outbox); a lost connection raises."""
        err = await c.lane.settle(f"{self.base(c.chair)}/alerts/events",
                                  lambda done: self._delivered(c, done))  # fmt: skip
        if err is None:
            return True
        c.events_due = True
        if isinstance(err, PublishRefused):
            self._refused(c, err)
            return False
        raise err

    def _delivered(self, c: ChairLink, done: list[Written]) -> None:
        if done:
            c.delivering()
            c.events_delivered()
        self.outbox.mark_delivered("mqtt", [w.row.id for w in done])
        self.stats.events_sent += len(done)
        now = time.monotonic()
        for w in done:
            self.receipts.accepted(c.chair, w.event, now)
        self._accepted(c, f"{self.base(c.chair)}/alerts/events")

    async def _rx(self, c: ChairLink, client: V5Client) -> None:
        async for msg in client.messages:
            try:
                await self.incoming.handle(c.chair, c.flog_receipts, client, msg)
            except aiomqtt.MqttError:
                raise  # the connection: reconnect as for any other loss
            except Exception as e:
                # One command must never take MQTT down for every chair: whatever it
                # was, it gets an error reply and the next message is served.
                log.exception("MQTT %s: command on %s failed", c.chair, msg.topic)
                # The payload goes with the error, as for every refused command: the
                # station can tell which of its commands failed.
                raw = msg.payload
                payload = raw if isinstance(raw, bytes) else str(raw).encode()
                await self.incoming.reject(
                    client, self.base(c.chair), str(msg.topic), payload, f"internal error: {e!r}"
                )
