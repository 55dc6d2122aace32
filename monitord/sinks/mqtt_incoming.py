"""What arrives on a chair's broker connection (extracted from sinks/mqtt.py): stations'
retained statuses and receipts (monitord/receipts.py), and nurse commands, screened by
sinks/commands.py and handed to the daemon; a refused command is answered on `cmd/errors`.

Receipts and station statuses marked `"doctor": true` (`monitord doctor`'s round trip)
are ignored; commands are screened as always (doctor sends none). A command that arrives
with the retain flag came from the broker's retained store because we (re)subscribed: it
is refused on `cmd/errors`, cleared, and never executed (a retained `end` would end the
open session at every reconnect): live too, as the command topics are subscribed with
"retain as published" (`subscriptions`). An empty command is refused unless it is retained
(then it is the clearing of a retained one). A message on any other topic (a
subscription the broker kept from an earlier configuration) is ignored, never a command,
and that subscription is ended.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from monitord.log import FailureLog
from monitord.models import Refusal, iso, refusal_level
from monitord.mqttv5 import PublishRefused, V5Client, is_doctor, reason_words
from monitord.receipts import BadReceipt, Receipts, parse_receipt
from monitord.sinks.commands import Command, CommandError, parse_command
from monitord.storebatch import NOT_STORED

log = logging.getLogger("monitord.sinks.mqtt")

# Foreign topics remembered as said (a WARNING each); past this many, each is said again:
# a flood of them cannot grow the daemon's memory.
FOREIGN_SAID_MAX = 256


def stale_filter(topic: str) -> str:
    """The filter an earlier configuration subscribed that `topic` came by: the shapes of
    `Incoming.subscriptions`, the topic itself or, for a station's status, `stations/+`
    (unsubscribing a filter the session does not hold is harmless)."""
    parent, _, _ = topic.rpartition("/")
    return f"{parent}/+" if parent.endswith("/stations") else topic


# `cmd/errors` echoes the refused command's first ECHO_CHARS characters (docs/mqtt.md).
ECHO_CHARS = 500


def echo(payload: bytes) -> str:
    """The first ECHO_CHARS characters of a refused command, for `cmd/errors`.

    Characters, not bytes: cut at 500 bytes, a command in Greek or CJK (a name and a lot
    of 64 characters are up to 192 bytes each) lost its end mid-JSON, and the station
    could no longer read whose command it was. Only the bytes that can hold them are
    decoded (at most 4 per character; a bad byte is one replacement character), never a
    whole oversized payload."""
    return payload[: 4 * ECHO_CHARS].decode("utf-8", "replace")[:ECHO_CHARS]


OnCommand = Callable[[str, Command], Awaitable[str | None]]


@dataclass
class MqttStats:
    """The MQTT sink's counters (its publishing and its receiving half)."""

    connects: int = 0
    events_sent: int = 0
    vitals_sent: int = 0
    vitals_dropped: int = 0
    commands: int = 0
    command_errors: int = 0
    refused: int = 0
    last_error: str | None = None


class Incoming:
    """Handles what a chair's connection receives (one instance serves every chair)."""

    def __init__(
        self,
        prefix: str,
        site: str,
        receipts: Receipts,
        on_command: OnCommand,
        stats: MqttStats,
        command_max_age_s: float,
    ) -> None:
        self.prefix = prefix
        self.site = site
        self.receipts = receipts
        self.on_command = on_command
        self.stats = stats
        self.command_max_age_s = command_max_age_s
        # Retained commands refused, by topic (a chair's cmd/ack and cmd/session): the
        # payload last said at WARNING. The broker replays a retained command at every
        # (re)subscribe, and the shipped ACL lets no chair clear it, so it came back as
        # two WARNINGs per reconnect (a broker restart, a network flap) until a station
        # account cleared it: now once per payload, then DEBUG.
        self._retained_said: dict[str, bytes] = {}
        # Topics of no subscription we made, said once each (bounded: see `_foreign`).
        self._foreign_said: set[str] = set()
        # Error replies on a chair's cmd/errors the broker refused, by the chair's base topic.
        self._replies: dict[str, FailureLog] = {}

    def subscriptions(self, chair: str) -> list[tuple[str, SubscribeOptions]]:
        """What `chair`'s connection subscribes to, QoS 1.

        The command topics with MQTT 5 "retain as published": without it the broker
        clears the retain flag on every message it forwards to an existing subscription,
        so a command a station sent retained (or one queued for us while we were away)
        looked fresh and was executed, and the refusal below only caught the copy the
        broker replays at a (re)subscribe. With it, `msg.retain` is the publisher's flag.
        And "no local": the empty retained message with which we clear such a command is
        ours, nothing to read back.
        """
        base = f"{self.prefix}/{self.site}/{chair}"
        cmd = SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True)
        plain = SubscribeOptions(qos=1)
        # Receipts too: one sent retained is refused live as at a resubscribe (docs/mqtt.md).
        receipts = SubscribeOptions(qos=1, retainAsPublished=True)
        return [
            (f"{base}/cmd/ack", cmd),
            (f"{base}/cmd/session", cmd),
            (f"{base}/alerts/receipts", receipts),
            (f"{self.prefix}/{self.site}/stations/+", plain),
        ]

    async def handle(
        self, chair: str, flog_receipts: FailureLog, client: V5Client, msg: aiomqtt.Message
    ) -> None:
        """One message on `chair`'s connection: a station status, a receipt or a command."""
        base = f"{self.prefix}/{self.site}/{chair}"
        topic = str(msg.topic)
        which = topic.rsplit("/", 1)[-1]
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        stations = f"{self.prefix}/{self.site}/stations/"
        if topic.startswith(stations):
            if not is_doctor(payload):
                # `retain`: replayed at our subscribe (the `stations/+` subscription does
                # not keep the publisher's flag: a live status comes without it).
                self.receipts.station_status(topic.removeprefix(stations), payload, msg.retain)
            return
        if topic not in (f"{base}/cmd/ack", f"{base}/cmd/session", f"{base}/alerts/receipts"):
            # The broker keeps our session (clean start off, a day's expiry) with every
            # subscription in it, also one of an earlier configuration of this client id
            # (another mqtt.prefix): a command there was taken for this chair's by its
            # last topic level and executed (a `start` sent to the old prefix started a
            # session here). Not ours: never a command; and the subscription goes (the
            # session would keep it as long as we reconnect within its expiry).
            self._foreign(chair, topic)
            await client.unsubscribe(stale_filter(topic))
            return
        if not payload and msg.retain:
            # A retained empty message clears a retained one (a station's, or ours below
            # when no local is not honoured): nothing was sent. An empty command or
            # receipt that is not retained is malformed: refused below like any other
            # (a receipt's was dropped without a word, docs/delivery.md says it is logged).
            self._retained_said.pop(topic, None)
            return
        if topic == f"{base}/alerts/receipts":
            if is_doctor(payload):
                return  # `monitord doctor`'s test message, not a station's receipt
            if msg.retain:
                # Kept by the broker and replayed at every (re)subscribe: it says nothing
                # about now, and taken as fresh it would clear "alarm not received by
                # any station" after each reconnect with no station listening.
                flog_receipts.failure(
                    "retained receipt",
                    f"retained receipt on {topic} ignored: receipts must be sent without "
                    f"retain (docs/mqtt.md); clear it with a station account: "
                    f"mosquitto_pub -r -n -t '{topic}'",
                )
                return
            try:
                got = parse_receipt(payload)
            except BadReceipt as e:
                # A station sending bad receipts sends many: WARNING once, then DEBUG.
                flog_receipts.failure(
                    "bad receipt",
                    f"receipt on {topic} ignored: {e} (docs/delivery.md has the format)",
                )
                return
            flog_receipts.success()
            self.receipts.receipt(got.alert_id, got.event, time.monotonic(), got.level)
            return
        self.stats.commands += 1
        if msg.retain:
            # Delivered because we (re)subscribed, not because a nurse just sent it: a
            # retained `end` would otherwise end whatever session is open at every
            # reconnect. Clear it; the shipped ACL refuses that (a chair may not write
            # its own commands, docs/delivery.md): then a station account must.
            said = self._retained_said.get(topic) == payload
            self._retained_said[topic] = payload
            level = logging.DEBUG if said else logging.WARNING
            try:
                await client.publish_acked(topic, b"", 1, True)
            except PublishRefused as e:
                log.log(
                    level,
                    "MQTT %s: could not clear the retained command on %s (%s); clear it "
                    "with a station account: mosquitto_pub -r -n -t '%s'",
                    chair,
                    topic,
                    reason_words(e.code),
                    topic,
                )
            else:
                self._retained_said.pop(topic, None)  # gone: a new one is news
            await self.reject(
                client,
                base,
                topic,
                payload,
                "retained command ignored: commands must be sent without retain (a "
                "retained one is replayed on every reconnect); clearing it on the broker",
                level,
            )
            return
        try:
            cmd = parse_command(which, payload, now=time.time(), max_age_s=self.command_max_age_s)
        except CommandError as e:
            await self.reject(client, base, topic, payload, str(e))
            return
        try:
            err = await self.on_command(chair, cmd)
        except Exception as e:
            log.exception("MQTT %s: command handler failed on %s", chair, topic)
            err = f"internal error: {type(e).__name__}"
        if err:
            await self.reject(client, base, topic, payload, err, refusal_level(err))

    def _foreign(self, chair: str, topic: str) -> None:
        """Says (once per topic) that a message on `topic` is not this chair's."""
        said = topic in self._foreign_said
        if not said and len(self._foreign_said) < FOREIGN_SAID_MAX:
            self._foreign_said.add(topic)
        log.log(
            logging.DEBUG if said else logging.WARNING,
            "MQTT %s: message on %s ignored: not one of this chair's topics (a subscription "
            "the broker kept in this client's session from an earlier configuration, e.g. "
            "another mqtt.prefix); unsubscribing %s",
            chair,
            topic,
            stale_filter(topic),
        )

    async def reject(
        self,
        client: V5Client,
        base: str,
        topic: str,
        payload: bytes,
        why: str,
        level: int = logging.WARNING,
    ) -> None:
        self.stats.command_errors += 1
        if isinstance(why, Refusal) and why.code == NOT_STORED:
            # Applied, no refusal (storebatch.py): the store's alarm says the disk's trouble.
            log.info("MQTT: command on %s: %s", topic, why)
        else:
            log.log(level, "MQTT: rejected command on %s: %s", topic, why)
        body = {
            "time": iso(time.time()),
            "topic": topic,
            "error": why,
            "payload": echo(payload),
        }
        if isinstance(why, Refusal):
            # Optional fields (docs/mqtt.md "cmd/errors"): what the engine told of it.
            body = {**body, "code": why.code, **why.fields}
        replies = self._replies.get(base)
        if replies is None:
            replies = self._replies[base] = FailureLog(log, f"MQTT {base.rsplit('/', 1)[-1]}")
        try:
            await client.publish_acked(f"{base}/cmd/errors", json.dumps(body).encode(), 1, False)
        except PublishRefused as e:
            # Once per chair and reason at WARNING, then DEBUG: each refused command was a
            # WARNING that named the topic twice and not the fix.
            replies.failure(
                reason_words(e.code),
                f"the broker refused the error reply on {base}/cmd/errors "
                f"({reason_words(e.code)}): the station is not told why its commands are "
                "refused; let the chair write there in the broker ACL "
                f"(config/mosquitto/monitord.acl: pattern write {self.prefix}/{self.site}/"
                "%u/cmd/errors), then reload mosquitto",
            )
        else:
            replies.success()
