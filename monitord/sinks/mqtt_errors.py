"""The MQTT sink's connection plumbing (extracted from sinks/mqtt.py): failures classified
with operator advice, a log filter for aiomqtt's late answers, and Nagle off on the
broker socket. No state: the sink (sinks/mqtt.py) and `monitord doctor` use these.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from monitord.certfiles import expired_client, expired_file
from monitord.config import MqttConfig, read_secret
from monitord.config_station import STATION_PASSWORD_ENV
from monitord.credentials import CredentialMissing, secret_path
from monitord.log import FailureLog
from monitord.mqttv5 import PublishRefused, reason_words
from monitord.netaddr import hostport
from monitord.tlsclock import EXPIRED_FIX, clock_words, expired, not_yet_valid

ENV = "MONITORD_MQTT_PASSWORD"  # [mqtt]'s password, in place of its file
# A certificate file found expired on this machine's clock: the clock may be the one wrong.
AHEAD = "; if this machine's clock is ahead (`timedatectl`), fix the clock instead"


class _LateAckFilter(logging.Filter):
    """aiomqtt logs a SUBACK or UNSUBACK whose request we gave up on as an ERROR with a
    KeyError traceback ("Unexpected message ID"). It happens when a subscribe times out,
    or is cancelled because the sink restarted (every chair's connection is torn down
    while some are still subscribing), and the broker answers anyway: harmless, the
    connection is being replaced. One DEBUG line instead of a traceback in the journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith("Unexpected message ID"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (an answer to a request given up on; ignored)"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def paho_logger(name: str) -> logging.Logger:
    """The logger an aiomqtt client is given (`logger=`): aiomqtt's and paho's lines,
    apart from our own, with the late answers filtered. Without one a client logs to
    aiomqtt's default `mqtt` logger, unfiltered (the station's did)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _LateAckFilter) for f in logger.filters):
        logger.addFilter(_LateAckFilter())
    return logger


paho_log = paho_logger("monitord.sinks.mqtt.paho")  # the daemon's clients


# -- error classes for connection failures (each with operator advice) -------------------
# CONNACK codes that mean "who you are was refused": MQTT 3.1.1 (4 bad user name or
# password, 5 not authorised) and MQTT 5 reason codes (134, 135, 140 bad auth method).
# Only a CONNACK carries them: a publish failing with paho's rc 4 (MQTT_ERR_NO_CONN) is a
# lost connection, which the old text match ("code:4]") took for a refused login.
_AUTH_CONNACK = {4, 5, 134, 135, 140}


def _rc(e: aiomqtt.MqttCodeError) -> int | None:
    rc = e.rc
    if isinstance(rc, int):
        return rc
    value = getattr(rc, "value", None)  # paho's ReasonCode (MQTT 5)
    return value if isinstance(value, int) else None


def _cause(e: BaseException) -> BaseException:
    """The socket/TLS/timeout error under an aiomqtt.MqttError: aiomqtt re-raises connect
    failures as `MqttError(str(exc)) from None`, which keeps the original as __context__."""
    if isinstance(e, aiomqtt.MqttError) and not isinstance(e, aiomqtt.MqttCodeError):
        inner = e.__cause__ or e.__context__
        if inner is not None:
            return inner
    return e


class PasswordUnreadable(OSError):
    """The broker password's file could not be read: missing, unreadable, or not UTF-8
    text. A login problem, said as one line naming the file (`describe_error`): a file
    of another encoding fell into the sink's "internal error (a bug)" branch, whose
    line printed the exception with the bytes read, i.e. the password, into the
    journal; a missing one was "cannot reach broker"."""


def read_password(path: Path | None, env: str | None) -> str | None:
    """A broker password as config.read_secret reads it, its failure as PasswordUnreadable
    (never with the file's content)."""
    try:
        return read_secret(path, env)
    except CredentialMissing as e:
        raise PasswordUnreadable(str(e)) from None
    except UnicodeDecodeError as e:
        where = secret_path(path) if path is not None else path
        raise PasswordUnreadable(
            f"{where} is not UTF-8 text (an invalid byte at offset {e.start}); write the password "
            "as one line of plain text"
        ) from None
    except OSError as e:
        raise PasswordUnreadable(f"{e.filename or path}: {e.strerror or e}") from None


def login_words(user_key: str, password_key: str, env: str | None) -> str:
    """The settings a refused login came from, in the one wording the sink, the station
    and `doctor` give (each adds its own around it): the login's user key and where its
    password was read, the variable `env` when it is set (it replaces the file:
    config.read_secret), else the file's key."""
    if env and os.environ.get(env):
        return f"{user_key} and the password in {env} (it replaces {password_key})"
    return f"{user_key} and {password_key}"


def chair_login_words(chair: str | None, env: str | None) -> str:
    """A chair's login: its own (`[[chairs]] mqtt_username`, no environment variable:
    `env` None) or [mqtt]'s. Before, the advice always named [mqtt]'s keys, also when
    the daemon had used neither."""
    if chair is not None and env is None:
        return login_words(f"chair {chair}'s mqtt_username", "mqtt_password_file", None)
    return login_words("mqtt.username", "mqtt.password_file", env)


def station_login_words() -> str:
    """The station's own login ([station]), as `monitord station` reads its password."""
    return login_words("station.mqtt_username", "station.mqtt_password_file", STATION_PASSWORD_ENV)


def describe_error(
    e: BaseException,
    cfg: MqttConfig,
    chair: str | None = None,
    env: str | None = ENV,
    login: str | None = None,
) -> tuple[str, str]:
    """(class, one-line message with advice) for a failed or lost connection, classified
    by exception type and MQTT return code, never by the wording of the message. `chair`
    and `env`: whose login it was and its password's environment variable (None for a
    chair's own login), as the sink's `login` gives them; `login`: the settings' words
    instead (the station's own login)."""
    text = str(e)
    where = hostport(cfg.host, cfg.port)
    if isinstance(e, PasswordUnreadable):
        words = login or chair_login_words(chair, env)
        return "auth", f"no login to broker {where}: password file {text}; check {words}"
    if isinstance(e, MqttConnectError):
        if _rc(e) in _AUTH_CONNACK:
            words = login or chair_login_words(chair, env)
            return "auth", f"broker {where} refused the login ({text}); check {words}"
        return "refused", f"broker {where} refused the connection ({text})"
    if isinstance(e, aiomqtt.MqttCodeError):
        return "lost", f"connection to broker {where} lost: {text}"
    cause = _cause(e)
    if (
        cfg.tls is not None
        and not isinstance(cause, ConnectionRefusedError | socket.gaierror)
        and (line := expired_client(cfg.tls.cert_file, dt.datetime.now(dt.UTC)))
    ):
        # The broker's TLS alert ("certificate expired") reaches paho after its handshake:
        # the connection only timed out, said "no answer from broker" (the network, the
        # broker); the expiry is read from the local file (certfiles.py).
        return "tls", f"TLS with {where} failed ({text or type(cause).__name__}): {line}{AHEAD}"
    if not_yet_valid(cause):
        # The Pi's clock, not the certificates (monitord/tlsclock.py); the sink adds the
        # certificate's dates (MqttConnector.keep).
        return "clock", clock_words("broker", where, dt.datetime.now(dt.UTC), None)
    if expired(cause):
        ca = cfg.tls.ca_file if cfg.tls is not None else None
        if line := expired_file("mqtt.tls.ca_file", ca, "ca", dt.datetime.now(dt.UTC)):
            # The clinic's CA itself (10 years): renewing the broker's certificate, as the
            # line below says, would not help.
            return "tls", f"TLS with {where} failed ({text}): {line}{AHEAD}"
        # Before, "...; check mqtt.tls (ca_file, certs, port)": files that were right.
        return "tls", f"TLS with {where} failed ({text}): {EXPIRED_FIX}"
    if isinstance(cause, ssl.SSLError | ssl.CertificateError):
        return "tls", f"TLS with {where} failed ({text}); check mqtt.tls (ca_file, certs, port)"
    if isinstance(cause, socket.gaierror):
        # At boot before the network (DHCP, Wi-Fi) is up, or a misspelt name: before, "cannot
        # reach broker HOST:PORT: [Errno -3] Temporary failure in name resolution", no advice.
        return "dns", (
            f"broker host {cfg.host} does not resolve ({cause.strerror or text}): this "
            f"machine's network or DNS is not up yet, or mqtt.host is misspelt; check with "
            f"`getent hosts {cfg.host}`"
        )
    if isinstance(cause, OSError) and cause.errno == errno.ENETUNREACH:
        # A broker named by its address, at boot before the network (DHCP, Wi-Fi) is up:
        # no route at all. Before, "cannot reach broker 192.168.1.10:8883: [Errno 101]
        # Network is unreachable", no advice, a backoff grown to 30 s; doctor: "start the
        # broker". As the name that does not resolve yet: retried every 2 s at boot.
        return "net", (
            f"broker {where} not reachable: this machine has no route to it (network is "
            f"unreachable): its network is not up yet (DHCP, Wi-Fi, cable), or mqtt.host "
            f"is wrong; check with `ip route get {cfg.host}`"
        )
    if isinstance(cause, ConnectionRefusedError):
        return "refused", f"broker {where} not reachable (connection refused); is it running?"
    if isinstance(cause, TimeoutError):
        return "timeout", f"no answer from broker {where} within {cfg.timeout_s} s"
    if isinstance(cause, OSError):
        return "os", f"cannot reach broker {where}: {text}"
    return "lost", f"connection to broker {where} lost: {text or type(e).__name__}"


def no_account(user: str | None) -> str:
    """A refused login's other cause: mosquitto refuses an account missing from its password
    file as it refuses a wrong password (both reason 135, 0x87), and the fleet's ninth chair
    is exactly that, yet the fix named only this Pi's files (doctor, the sink's log line)."""
    if not user:
        return ""
    return (
        f"; a user the broker has no account for is refused the same way: on the broker, "
        f"(umask 077; mosquitto_passwd /etc/mosquitto/monitord.passwd {user}) and "
        'systemctl reload mosquitto (docs/install.md, "The broker and its ACL")'
    )


def refusal_text(e: PublishRefused, user: str) -> str:
    """A refused publish in words, with the fix (the delivery alarm's text)."""
    return f"broker refused publish on {e.topic} for user {user}: {reason_words(e.code)}; " + (
        "check the ACL (the user must be allowed to write the chair's topics: "
        "docs/delivery.md), then reload the broker"
        if e.value in (0x87, 0x90)  # not authorized, topic name invalid
        else "see the broker's log"
    )


def nodelay(client: aiomqtt.Client) -> None:
    """Turn Nagle off on the broker connection. paho leaves it on, so an alert event
    published while an earlier small packet (a QoS 0 vitals publish) is still unacknowledged
    waits for the broker's delayed ACK: ~40 ms on Linux (bench/results.md, alert latency).
    MQTT packets are whole messages written at once, so nothing is gained by coalescing."""
    sock = client._client.socket()
    setsockopt = getattr(sock, "setsockopt", None)  # a TLS or websocket wrapper may lack it
    if setsockopt is not None:
        with contextlib.suppress(OSError):
            setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def refused_subscriptions(wanted: list[str], granted: Any) -> list[str]:
    """`topic (reason)` for each subscription a SUBACK (MQTT v5 reason codes) refused."""
    codes = list(granted) if isinstance(granted, list | tuple) else []
    return [
        f"{t} ({reason_words(code)})"
        for t, code in zip(wanted, codes, strict=False)
        if isinstance(code, ReasonCode) and code.is_failure
    ]


def check_suback(flog: FailureLog, user: str | None, wanted: list[str], granted: Any) -> None:
    """MQTT v5 SUBACK reason codes: a refused subscription means nurse commands or
    station receipts for this chair never arrive (mosquitto 2.0 grants them all and
    filters per message; other brokers answer 0x87 here)."""
    if refused := refused_subscriptions(wanted, granted):
        flog.failure(
            "suback",
            f"broker refused subscriptions for user {user or '(anonymous)'}: "
            f"{', '.join(refused)}; nurse commands / station receipts will not arrive; "
            "check the ACL (docs/delivery.md)",
        )
    else:
        flog.success()
