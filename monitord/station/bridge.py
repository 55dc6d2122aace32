"""The station's broker connection (MQTT v5): reads the site, sends nurses' commands and
receipts, announces the station.

- on connect: `{prefix}/{site}/stations/{id}` `online` (QoS 1, retained); the Last Will is
  the same topic with `offline`, and a clean stop publishes `offline` itself;
- subscribes to the chairs' status, vitals, alert events, active sets and command errors
  (model.py) and feeds every message to the model, which screens it first (messages.py):
  a refused message is logged at WARNING once per topic until a good one comes;
- `publish()` sends a command or a receipt (QoS 1, not retained) and waits for the
  broker's PUBACK; it raises `NotConnected` while the broker is away and `Refused` when
  the broker's ACL refused it (MQTT v5 reason code, monitord/mqttv5.py: under v5 a
  refused publish is acknowledged too, only its code tells): the nurse is told, nothing
  is queued to fire later (a stale ack or session command is worse than a refused one),
  and a receipt not taken is not counted as sent. `NotConfirmed` when it was written but
  its PUBACK did not come in the MQTT timeout: the broker may still deliver it.
The station's own MQTT account (`[station] mqtt_username`/`mqtt_password_file`) is used;
its password stays in this process.

A bug in handling one message (the model or `on_change` raising on a message that passed
screening) is logged at ERROR with its traceback and topic, and the bridge reconnects with
its backoff, as after a lost broker, like the daemon's MQTT sink on an "internal error":
it must not end the station (every page would drop until systemd restarted it). The
connection left on the error leaves with the Last Will (`offline`, mqttv5.py); the
reconnect says `online` again and re-reads the retained state the model may have applied
only in part.

Another client taking the station's connection over (two `monitord station` processes on
one broker account: a second nurses' room's station.toml copied with `mqtt_username`
kept; the shipped broker config makes the user name the client id, so the two take the
id from each other at every connect) is told apart from a lost broker as a chair's is
(sinks/mqtt_takeover.py): one ERROR naming the account and the fix, `systemctl status`
says so while it lasts, and the backoff is not reset at each connect. Before, each
station logged a WARNING "connection ... lost: Disconnected during message iteration"
and an INFO "recovered" two or three times a second, for ever, naming no cause, while
its pages flickered between live and CONNECTION LOST
(tests/station/test_station_takeover.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiomqtt

from monitord import __version__
from monitord.backoff import Backoff
from monitord.config import Config
from monitord.config_station import STATION_PASSWORD_ENV
from monitord.log import FailureLog
from monitord.models import iso
from monitord.mqttv5 import PublishRefused, Unconfirmed, V5Client, reason_words
from monitord.netaddr import hostport
from monitord.sinks.mqtt_errors import (
    describe_error,
    paho_logger,
    read_password,
    station_login_words,
)
from monitord.sinks.mqtt_takeover import TAKEOVER_RETRY_S, Takeover
from monitord.station.model import Changes, StationModel
from monitord.tlsclock import boot_retry

log = logging.getLogger("monitord.station.mqtt")
# A connection that lasted this long before a bug: the bug's backoff starts afresh.
BUG_RESET_S = 60.0
# The topics whose refused messages are remembered (to warn once each): more than a site has.
MAX_BAD_TOPICS = 1024
# The reconnect backoff's cap (s); a takeover ends once a connection is held twice that.
BACKOFF_CAP_S = 15.0


class NotSent(RuntimeError):
    """A command or receipt the broker did not take; the message says why."""


class NotConnected(NotSent):
    """The broker is not reachable now."""


class Refused(NotSent):
    """The broker refused the publish (its ACL, most often)."""


class NotConfirmed(RuntimeError):
    """A command or receipt written to the broker that did not confirm it in time: it may
    yet be carried out (mqttv5.Unconfirmed); never a NotSent."""


class Bridge:
    def __init__(
        self, cfg: Config, model: StationModel, on_change: Callable[[Changes], None]
    ) -> None:
        assert cfg.station is not None
        self.cfg = cfg
        self.station = cfg.station
        self.model = model
        self.on_change = on_change
        self.connected = False
        self.status_topic = f"{cfg.mqtt.prefix}/{cfg.site.id}/stations/{self.station.id}"
        self._client: V5Client | None = None
        self._flog = FailureLog(log, "station MQTT")
        self._refusals = FailureLog(log, "station MQTT publish")
        # The station's `online` refused by the broker (its ACL): said in `systemctl status`.
        self.status_refused: str | None = None
        self._status_log = FailureLog(log, "station MQTT status")
        self._bugs = FailureLog(log, "station MQTT")  # `run`'s internal errors
        # topic -> its run of refused messages, forgotten at the topic's next good one.
        self._bad: dict[str, FailureLog] = {}
        # Another client with this station's client id (the module's docstring).
        self.takeover = Takeover(self.station.id, 2 * BACKOFF_CAP_S)
        self.takeover.on_end = self._takeover_ended
        self._backoff = Backoff(0.5, BACKOFF_CAP_S)

    def topic(self, chair: str, rest: str) -> str:
        return f"{self.cfg.mqtt.prefix}/{self.cfg.site.id}/{chair}/{rest}"

    def _status(self, state: str) -> bytes:
        return json.dumps(
            {"state": state, "time": iso(time.time()), "version": __version__}
        ).encode()

    def _tls(self) -> ssl.SSLContext | None:
        t = self.cfg.mqtt.tls
        return t.client_context() if t is not None else None

    def _make_client(self) -> V5Client:
        password = read_password(self.station.mqtt_password_file, STATION_PASSWORD_ENV)
        return V5Client(
            self.cfg.mqtt.host,
            self.cfg.mqtt.port,
            username=self.station.mqtt_username,
            password=password,
            identifier=f"monitord-station-{self.cfg.site.id}-{self.station.id}",
            will=aiomqtt.Will(self.status_topic, self._status("offline"), 1, True),
            keepalive=self.cfg.mqtt.keepalive_s,
            timeout=self.cfg.mqtt.timeout_s,
            tls_context=self._tls(),
            logger=paho_logger("monitord.station.mqtt.paho"),  # a late SUBACK: no traceback
        )

    async def publish(self, topic: str, body: dict[str, Any]) -> None:
        client = self._client
        if client is None or not self.connected:
            raise NotConnected("the station is not connected to the broker")
        try:
            await client.publish_acked(topic, json.dumps(body).encode(), 1, False)
        except PublishRefused as e:
            why = (
                f"the broker refused it on {topic} for user {self.station.mqtt_username}: "
                f"{reason_words(e.code)}; check the station's lines in the broker ACL "
                "(docs/operations.md)"
            )
            self._refusals.failure("refused", why)
            raise Refused(why) from None
        except Unconfirmed:
            # Written, its PUBACK not in time: the broker may still deliver it (a paused
            # one resumed does, QoS 1). Said as a failure, a nurse pressed again: a
            # second Start or Dose start, or an ACK believed not to have silenced.
            raise NotConfirmed(
                f"the broker did not answer within {self.cfg.mqtt.timeout_s:g} s; it may "
                "still be carried out"
            ) from None
        except aiomqtt.MqttError as e:
            raise NotConnected(f"the broker did not take it: {e}") from None
        self._refusals.success()

    async def run(self) -> None:
        backoff = self._backoff
        # A bug's own backoff, not reset by the connect after it: a message that raises at
        # every connect (a retained one) is retried at the cap, not every half second.
        bugs = Backoff(0.5, 15.0)
        connected_at = time.monotonic()
        while True:
            topic: str | None = None  # the message being handled, for a bug's log line
            client: V5Client | None = None
            up = False  # its CONNACK came: a loss after it may be a takeover
            try:
                client = self._make_client()
                async with client:
                    up = True
                    self.takeover.connected()
                    self._client = client
                    await self._announce(client)
                    await client.subscribe([(t, 1) for t in self.model.subscriptions()])
                    # What was not heard while the station was away is not the chairs'
                    # silence: each counts as heard from now (model.py).
                    self.model.listening(time.monotonic())
                    self.connected = True
                    connected_at = time.monotonic()
                    # Taken over, each connection holds until the other client takes it
                    # again: the log stays quiet and the backoff kept until one holds.
                    if not self.takeover.active:
                        backoff.reset()
                        self._flog.success()
                    log.log(
                        logging.DEBUG if self.takeover.active else logging.INFO,
                        "station MQTT: connected to %s",
                        hostport(self.cfg.mqtt.host, self.cfg.mqtt.port),
                    )
                    self.on_change(Changes(stations=True))
                    try:
                        async for msg in client.messages:
                            topic = str(msg.topic)
                            self._feed(msg)
                            topic = None
                    except asyncio.CancelledError:
                        # The station stopping: the site is no longer read from here on.
                        # Told now, the pages say CONNECTION LOST at once; before, they
                        # showed the board live until their stream was cut (the offline
                        # publish below, up to 2 s, and the server's shutdown after it).
                        self._lost()
                        with contextlib.suppress(Exception):
                            await client.publish(
                                self.status_topic, self._status("offline"), 1, True, timeout=2.0
                            )
                            client.said_offline = True  # else the Will says it (mqttv5.py)
                        raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as e:
                taken = self.takeover.lost(client, up, self.station.mqtt_username) is not None
                self._lost()
                delay = backoff.next_delay()
                if taken and client is not None:
                    # The ACKs and receipts go out only while connected: never wait long.
                    delay = min(delay, TAKEOVER_RETRY_S)
                    self._flog.failure(
                        "takeover",
                        f"{self.takeover_words(str(client.identifier))}; retrying in {delay:.1f} s",
                        logging.ERROR,
                    )
                else:
                    # Classified, with advice naming the station's own login: a refused
                    # one was logged as the bare "[code:135] Not authorized".
                    cls, said = describe_error(e, self.cfg.mqtt, login=station_login_words())
                    # At boot NTP, the network come up any moment: the wallboards wait,
                    # retried every 2 s; past a boot's minutes, the backoff (tlsclock.py).
                    cls, said, delay = boot_retry(cls, said, self._flog.failing_for(), delay)
                    self._flog.failure(cls, f"{said}; retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
            except Exception as e:
                self._lost()
                if time.monotonic() - connected_at > BUG_RESET_S:
                    bugs.reset()
                    self._bugs.reset()
                delay = bugs.next_delay()
                what = f"the message on {topic}" if topic is not None else "the connection"
                # Once per bug and topic at ERROR with its traceback: a retained message
                # raises again at every reconnect, and each was an ERROR with the whole
                # traceback every 15 s. Said afresh after a connection that held.
                self._bugs.failure(
                    f"{type(e).__name__} {what}",
                    f"internal error {e!r} handling {what} (a bug: please report it with "
                    f"this traceback); reconnecting in {delay:.1f} s",
                    logging.ERROR,
                    exc_info=e,
                )
                self._flog.failure("bug", f"internal error {e!r}", logging.DEBUG)  # recovery
                await asyncio.sleep(delay)

    async def _announce(self, client: V5Client) -> None:
        """Publishes `online` and waits for the broker's answer. A refusal is said at
        ERROR: the chairs then count no station online (`monitord status` says NONE, their
        annunciators sound while an alert is active) though this one serves its pages.
        Before, it was not looked at: a station whose `[station] id` is not the one its
        account may write in the ACL (a copied station.toml, the account changed and not
        the id) was silently never online for the chairs
        (tests/station/test_station_status_refused.py)."""
        try:
            await client.publish_acked(self.status_topic, self._status("online"), 1, True)
        except PublishRefused as e:
            user = self.station.mqtt_username
            self.status_refused = reason_words(e.code)
            self._status_log.failure(
                "refused",
                f"the broker refused the station's status on {self.status_topic} for user "
                f"{user}: {self.status_refused}; the chairs count no station online (their "
                "annunciators sound while an alert is active). The ACL lets a station "
                "account write only its own {prefix}/{site}/stations/<id>: make [station] "
                f"id the id in {user}'s lines of the broker ACL (by convention the account "
                "name) and [site] id the site they name, or add the line, reload the "
                f"broker, then restart the station{self._twin_words()}",
                logging.ERROR,
            )
            return
        self.status_refused = None
        self._status_log.success("the broker took the station's status")

    def _twin_words(self) -> str:
        """The refusal's other fix: a copy that kept the account and changed the id (a
        second room's station) made the id of its account the first station's twin, whose
        connections take each other over; its own account is the fix there."""
        user, sid = self.station.mqtt_username, self.station.id
        if user is None or user == sid:
            return ""
        return (
            f"; but if another station already logs in as {user}, give this one its own "
            f'account (mqtt_username = "{sid}", with its block in the broker ACL): two '
            "stations on one account take the broker connection from each other"
        )

    def takeover_words(self, ident: str) -> str:
        """The admin's line: what is wrong and what to do (the log, `systemctl status`)."""
        user = self.station.mqtt_username
        same = (
            f"broker account {user} (the shipped broker config makes the user name the client id)"
            if user
            else f"client id {ident}"
        )
        return (
            f"station {self.station.id}'s broker connection is taken over by another "
            f"client: another monitord station (or any client) connects with the same {same}; "
            "give each station its own [station] id and mqtt_username, with its own lines "
            "in the broker ACL (docs/station.md, 'Several stations')"
        )

    def _takeover_ended(self) -> None:
        self._backoff.reset()
        self._flog.success("connection held: no other client takes it over now")
        self.on_change(Changes(stations=True))  # `systemctl status` says so no more

    def _lost(self) -> None:
        self.takeover.cancel()  # a connection ended (or the stop): not held
        self.connected = False
        self._client = None
        try:
            self.on_change(Changes(stations=True))  # the pages say CONNECTION LOST
        except Exception:
            log.exception("station MQTT: internal error showing the broker lost (a bug)")

    def _feed(self, msg: aiomqtt.Message) -> None:
        topic = str(msg.topic)
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        # A retained message (replayed at our subscribe) is no sign that the chair lives.
        changes = self.model.apply(topic, payload, at=None if msg.retain else time.monotonic())
        self._screened(topic, changes.rejected)
        self.on_change(changes)

    def _screened(self, topic: str, rejected: str | None) -> None:
        """A refused message is logged at WARNING once per topic, its repeats (a retained
        one at every reconnect, a daemon sending the same wrong shape) at DEBUG, until a
        good message on the topic: then one INFO line, and the next refusal warns again."""
        if rejected is None:
            bad = self._bad.pop(topic, None)
            if bad is not None:
                bad.success("a good message applied")
            return
        bad = self._bad.get(topic)
        if bad is None:
            if len(self._bad) >= MAX_BAD_TOPICS:  # bounded: forget the oldest
                del self._bad[next(iter(self._bad))]
            bad = self._bad[topic] = FailureLog(log, f"station MQTT message on {topic}")
        bad.failure(
            "refused",
            f"ignored ({rejected.removeprefix(topic + ': ')}); the last good state is kept",
        )
