"""Another client connecting with a chair's client id (an admin copied one Pi's chair file
to a second Pi and kept its chair id): the broker gives the id to whoever connected last,
so the two daemons take the connection from each other at every reconnect, and the nurses'
station shows two patients' vitals under one chair. Only the admin can fix it; the daemon
says so once at ERROR, `monitord status` shows it while it lasts (sinks/linkstate.py), the
chair's retained status carries `CONFLICT` meanwhile for the nurses' station to mark the
tile (ChairLink.status; republished without it at the end), and
the reconnects keep their backoff meanwhile instead of resetting it at each connection, so
the two do not hammer the broker; but never above `TAKEOVER_RETRY_S`: a chair's alerts go
out only while it holds the connection, and a backoff grown to its 30-s cap made an alert
wait up to that long for the next turn.

What the connection that is taken over sees (tests/delivery/test_mqtt_takeover.py, with
Debian 12's mosquitto 2.0.11 that the clinics run):
- a broker that follows MQTT v5 (mosquitto from 2.0.15, EMQX, HiveMQ) sends DISCONNECT with
  reason 0x8E "Session taken over" first: certain at once;
- mosquitto 2.0.11 only closes the socket (its log: "Client ... already connected, closing
  old connection"). paho then reports "Unspecified error" (0x80) from itself, no packet,
  the same as for a broker stopped or restarted; aiomqtt's message iterator raises a bare
  MqttError("Disconnected during message iteration"). `V5Client.lost` keeps paho's word.
  So, there: `CLOSES` such closes in a row, each time with the next connect accepted at
  once (a broker that restarts refuses at least one in between, or closes once), and no
  connection held for `hold_s` in between. A close while a publish waits for its PUBACK
  is not counted: mosquitto drops a connection at a packet over its `max_packet_size`
  the same way, and accepts every reconnect too (sinks/mqtt_link.py); nor one at an
  unanswered PINGREQ (an idle connection reset by a firewall with a short idle timeout).
It ends when a connection is held for `hold_s`: twice the reconnect backoff's cap, longer
than the other daemon waits before it connects again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from monitord.mqttv5 import V5Client

SESSION_TAKEN_OVER = 0x8E
# The socket closed with no reason this many times in a row, the broker accepting the
# next connect each time: one broker restart is one close (an admin restarting it again
# and again while fixing its config, a few), a flap is a close per connect, a couple a
# second until the count is reached (the backoff resets at each connection till then).
CLOSES = 5
# The longest wait before reconnecting while taken over (sinks/mqtt.py): an alert waits for
# the chair's next connection at most this long (plus the connect), and two daemons at it
# make a connect a second each, nothing to a broker.
TAKEOVER_RETRY_S = 2.0
# The chair's retained `status` carries this as `conflict` while its takeover lasts
# (sinks/mqtt.py, docs/mqtt.md): the nurses' station marks the chair's readings as maybe
# another patient's; only the words' presence counts there, not the words.
CONFLICT = "another client uses this chair's id"
# paho's words for "the socket closed under us" (MQTT_ERR_CONN_LOST), not the broker's.
_CLOSED = "Unspecified error"


def client_id(configured: str | None, site: str, chair: str) -> str:
    """The MQTT client id of a chair's connection (sinks/mqtt.py `_client`)."""
    return f"{configured}-{chair}" if configured else f"monitord-{site}-{chair}"


def advice(chair: str, ident: str, user: str | None) -> str:
    """The admin's line: what is wrong and what to do (the log and `monitord status`)."""
    login = f", user {user}" if user else ""
    return (
        f"chair {chair}'s connection (client id {ident}{login}) is taken over by another "
        "client: another monitord, or any client, uses this chair's id on this broker; "
        "two Pis with the same chair file? give each Pi its own chair id "
        "(`monitord status` on each Pi shows its chair ids)"
    )


class Takeover:
    """One chair's connection: is another client taking it over?"""

    def __init__(self, chair: str, hold_s: float) -> None:
        self.chair = chair
        self.hold_s = hold_s
        self.closes = 0  # reasonless closes in a row, each reconnect accepted at once
        self.since: float | None = None  # wall clock, for `monitord status`
        self._held: asyncio.TimerHandle | None = None
        # Told when it ends (a connection held for `hold_s`).
        self.on_end: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def connected(self) -> None:
        """A CONNACK: the id is ours until another client connects with it."""
        self.cancel()
        self._held = asyncio.get_running_loop().call_later(self.hold_s, self._kept)

    def lost(
        self,
        client: V5Client | None,
        was_connected: bool,
        user: str | None,
        *,
        unanswered: bool = False,
    ) -> str | None:
        """A connect failed or a connection ended: the admin's advice when it was taken
        over, else None. `unanswered`: a publish still waited for the broker's answer."""
        self.cancel()
        reason, from_broker = (client.lost if client is not None else None) or (None, False)
        value = None if reason is None else int(reason.value)
        closed = was_connected and reason is not None and not from_broker and str(reason) == _CLOSED
        if was_connected and from_broker and value == SESSION_TAKEN_OVER:
            self.closes = max(self.closes + 1, CLOSES)
        elif closed and unanswered:
            # Maybe the broker dropping us at what we sent: mosquitto 2.0.11 resets the
            # connection at a packet over its max_packet_size when more follows it (its
            # DISCONNECT 0x95 lost with the reset) and accepts every reconnect, as a
            # takeover looks. Not counted (nor the count reset: a takeover may hit while
            # an alert's PUBACK is on its way); taken over, a PUBACK comes in ms.
            pass
        elif closed and (client is None or client.unanswered_ping_since(0.0) is None):
            self.closes += 1
        else:  # refused, timed out, a keepalive lost, the broker's own reason: not this;
            # nor a close at our PINGREQ: the connection sat idle a keepalive long, none
            # took it, and a firewall that forgets idle flows answers the ping with a reset.
            self.closes = 0
        if self.closes < CLOSES or client is None:
            return None
        if self.since is None:
            self.since = time.time()
        return advice(self.chair, str(client.identifier), user)

    def _kept(self) -> None:
        self._held = None
        self.closes = 0
        if self.since is not None:
            self.since = None
            if self.on_end is not None:
                self.on_end()

    def cancel(self) -> None:
        """The connection ended (or the sink stops): not held."""
        if self._held is not None:
            self._held.cancel()
            self._held = None
