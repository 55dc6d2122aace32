"""Making and keeping each chair's broker connection (extracted from sinks/mqtt.py).

The client of one chair: its login (per chair, or [mqtt]'s), TLS, the persistent MQTT v5
session (clean start off, a session expiry: commands sent while we were away are
delivered on reconnect) and its Last Will (`offline`, retained). The loop around it:
connect, serve until the connection ends (`serve`: sinks/mqtt.py), say `offline` on a
clean stop, classify a loss with its advice (sinks/mqtt_errors.py; another client taking
the connection over: sinks/mqtt_takeover.py) and reconnect after the chair's backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt

from monitord.config import MqttConfig
from monitord.mqttv5 import V5Client, session_properties
from monitord.netaddr import hostport
from monitord.outbox import Outbox
from monitord.sinks.linkstate import LinkState
from monitord.sinks.mqtt_errors import (
    PasswordUnreadable,
    describe_error,
    no_account,
    paho_log,
    read_password,
)
from monitord.sinks.mqtt_incoming import MqttStats
from monitord.sinks.mqtt_link import STALL_S, ChairLink
from monitord.sinks.mqtt_takeover import TAKEOVER_RETRY_S, client_id
from monitord.tlsclock import boot_retry, clock_words, peer_validity

log = logging.getLogger("monitord.sinks.mqtt")

# A failed connection's log line counts the chair's queued alert events up to this many
# ("over N"): it runs on the event loop at every retry, and an exact count reads every
# pending row of an outage (as sinks/influx.py's LOG_BACKLOG_AT_MOST); `monitord status`
# gives the exact figure.
LOG_BACKLOG_AT_MOST = 10_000
# (username, password file, password env var)
Login = tuple[str | None, Path | None, str | None]
# Serves a connection until it ends (sinks/mqtt.py `MqttSink._serve`).
Serve = Callable[[ChairLink, V5Client], Awaitable[None]]


class Connector:
    """Connects each chair and keeps it connected (one instance serves every chair)."""

    def __init__(
        self,
        cfg: MqttConfig,
        site: str,
        logins: dict[str, Login],
        stats: MqttStats,
        link: LinkState,
        outbox: Outbox,
        base: Callable[[str], str],
    ) -> None:
        self.cfg = cfg
        self.site = site
        # chair -> (username, password file, password env var): per-chair logins
        # ([[chairs]] mqtt_username) or [mqtt]'s for every chair.
        self.logins = logins
        self.stats = stats
        self.link = link
        self.outbox = outbox
        self.base = base
        # Told of each CONNACK, before the link is said up (sinks/mqtt.py `reached`): the
        # broker holds the chair's retained will from then on.
        self.on_connack: Callable[[str], None] | None = None

    def _tls_context(self) -> ssl.SSLContext | None:
        return self.cfg.tls.client_context() if self.cfg.tls is not None else None

    async def _clock_words(self, e: BaseException) -> tuple[str, str]:
        """The clock failure's line with the broker certificate's dates (tlsclock.py)."""
        now = dt.datetime.now(dt.UTC)  # the clock OpenSSL judged by, as near as we can
        dates = None
        if self.cfg.tls is not None:
            dates = await peer_validity(self.cfg.host, self.cfg.port, self.cfg.timeout_s)
        return "clock", clock_words("broker", hostport(self.cfg.host, self.cfg.port), now, dates)

    def _queued(self, chair: str) -> str:
        n = self.outbox.backlog("mqtt", chair, at_most=LOG_BACKLOG_AT_MOST)
        return f"over {LOG_BACKLOG_AT_MOST:,}" if n > LOG_BACKLOG_AT_MOST else str(n)

    def login(self, chair: str) -> Login:
        return self.logins.get(
            chair, (self.cfg.username, self.cfg.password_file, "MONITORD_MQTT_PASSWORD")
        )

    def client(self, c: ChairLink) -> V5Client:
        chair = c.chair
        username, password_file, env = self.login(chair)
        password = read_password(password_file, env)  # PasswordUnreadable: an OSError
        ident = client_id(self.cfg.client_id, self.site, chair)
        return V5Client(
            self.cfg.host,
            self.cfg.port,
            username=username,
            password=password,
            identifier=ident,
            # The broker keeps our command subscription and queued commands while we
            # are away (MQTT v5: clean start off plus a session expiry).
            clean_start=False,
            properties=session_properties(),
            # Never with `conflict`: it would outlive the takeover (ChairLink.status).
            will=aiomqtt.Will(
                f"{self.base(chair)}/status",
                c.status("offline", will=True),
                1,
                True,
            ),
            timeout=self.cfg.timeout_s,
            keepalive=self.cfg.keepalive_s,
            tls_context=self._tls_context(),
            logger=paho_log,
        )

    async def keep(self, c: ChairLink, connect: Callable[[str], V5Client], serve: Serve) -> None:
        """Connects `c` (`connect`), serves it (`serve`), reconnects it; until cancelled."""
        backoff, flog = c.backoff, c.flog
        while True:
            client: V5Client | None = None
            try:
                client = connect(c.chair)
                async with client:
                    if self.on_connack is not None:
                        self.on_connack(c.chair)
                    c.up()
                    self.link.up(c.chair)
                    self.stats.connects += 1
                    log.info(
                        "MQTT %s: connected to %s", c.chair, hostport(self.cfg.host, self.cfg.port)
                    )
                    try:
                        await serve(c, client)
                    except asyncio.CancelledError:
                        # Clean stop: say so; unanswered, the Will says it (mqttv5.py).
                        c.down()
                        with contextlib.suppress(Exception):
                            await client.publish(
                                f"{self.base(c.chair)}/status",
                                c.status("offline"),
                                1,
                                True,
                                timeout=min(self.cfg.timeout_s, 2.0),
                            )
                            client.said_offline = True
                        raise
            except asyncio.CancelledError:
                # Also a stop that came while a failed connection was leaving (its
                # DISCONNECT wait in V5Client.__aexit__): the cancellation replaced the
                # error the handlers below end the link on. Still ended: not counted as
                # connected, no stall or takeover timer left to fire after the stop.
                c.down()
                raise
            # (ssl.SSLError and TimeoutError are OSErrors: a TLS failure or a timeout ends here)
            except (aiomqtt.MqttError, OSError) as e:
                user, _, env = self.login(c.chair)
                asked = c.asked_since is not None  # before c.down() forgets it
                taken = c.takeover.lost(client, c.connected, user, unanswered=asked)
                # Lost to the keepalive (a frozen broker): from its unanswered PINGREQ.
                c.down(client.unanswered_ping_since(STALL_S) if client is not None else None)
                why = describe_error(e, self.cfg, c.chair, env)  # its advice names the login
                delay = backoff.next_delay()
                # A Pi at boot: the clock is stepped, the network comes up, at any moment,
                # and the chair's alerts wait for it: retried every 2 s then, not after a
                # backoff grown to 30 s; past a boot's minutes, the backoff (tlsclock.py).
                late = boot_retry(why[0], why[1], flog.failing_for(), delay)
                if why[0] == "clock" and not flog.warned(late[0]):
                    # The line said (WARNING): with the certificate's dates.
                    dated = await self._clock_words(e)
                    late = boot_retry(why[0], dated[1], flog.failing_for(), delay)
                why, delay = (late[0], late[1]), late[2]
                cls, msg = ("takeover", taken) if taken else why
                # The journal's line, read first, names a missing account as doctor does.
                refused = cls == "auth" and not isinstance(e, PasswordUnreadable)
                advice = no_account(user) if refused else ""
                self.stats.last_error = msg
                self.link.down(msg, c.chair, taken_over=taken is not None)
                # Its alerts go out only while connected: never wait long for that, also
                # after a loss of another kind meanwhile (the grown backoff: up to 30 s).
                if taken or c.takeover.active:
                    delay = min(delay, TAKEOVER_RETRY_S)
                flog.failure(
                    cls,
                    f"{msg}{advice}; {self._queued(c.chair)} alert events queued; "
                    f"retrying in {delay:.1f} s",
                    logging.ERROR if cls in ("auth", "tls", "takeover") else logging.WARNING,
                )
                await asyncio.sleep(delay)
            except Exception as e:
                # A bug on one chair's connection: reconnect that chair only. Letting it
                # end the sink task would tear down every chair's connection with it
                # (and re-trigger the bug on each restart if it came from the broker).
                c.down()
                self.stats.last_error = f"internal error: {e!r}"
                self.link.down(self.stats.last_error, c.chair)
                delay = backoff.next_delay()
                flog.failure(
                    "bug",
                    f"internal error {e!r} (a bug: please report it with this line and its "
                    f"traceback); reconnecting in {delay:.1f} s",
                    logging.ERROR,
                    exc_info=e,  # without it the report could not say where the bug was
                )
                await asyncio.sleep(delay)
