"""`[mqtt] prefix` and `ha_prefix` start every topic (monitord/config_topics.py): a value
that makes topics nobody subscribes to as meant, or that the broker refuses, is refused by
check-config in one line naming the key. In process: a config case's subprocess costs a
second each (tests/config_cases/mqtt-prefix-empty-level runs the real command once)."""

from __future__ import annotations

import asyncio
import socket

import aiomqtt
import pytest

from monitord.config import ConfigError, loads_config
from monitord.mqttv5 import V5Client
from tests.kit import eventually
from tests.servers import Mosquitto

CHAIR = '[[chairs]]\nid = "c1"\n'


def refused(mqtt: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        loads_config(f'[site]\nid = "s1"\n[mqtt]\n{mqtt}\n{CHAIR}', "x.toml")
    return e.value.lines


WILD = "x.toml: mqtt.prefix: must be a topic prefix without wildcards or leading/trailing '/'"
EMPTY_LEVEL = (
    "x.toml: mqtt.prefix: has an empty topic level ('//'): separate the levels with one '/', "
    "e.g. 'a/b'"
)
NONCHAR = (
    "contains the Unicode noncharacter {}, which the broker refuses in a topic "
    "(it drops the connection)"
)


@pytest.mark.parametrize(
    ("prefix", "line"),
    [
        pytest.param("a//b", EMPTY_LEVEL, id="empty-level"),
        pytest.param("a/b//c/d", EMPTY_LEVEL, id="empty-level-deeper"),
        pytest.param("a/+/b", WILD, id="plus"),
        pytest.param("a/#", WILD, id="hash"),
        pytest.param("/a", WILD, id="leading-slash"),
        pytest.param("a/", WILD, id="trailing-slash"),
        pytest.param("", WILD, id="empty"),
        pytest.param(
            "$share/a",
            "x.toml: mqtt.prefix: must not start with '$' (reserved for the broker, e.g. $SYS)",
            id="dollar",
        ),
        pytest.param(
            "a\\u0000b", "x.toml: mqtt.prefix: contains the NUL character (U+0000)", id="nul"
        ),
        pytest.param("a" * 201, "x.toml: mqtt.prefix: is longer than 200 bytes", id="long"),
        pytest.param("a\\uFFFF", f"x.toml: mqtt.prefix: {NONCHAR.format('U+FFFF')}", id="ffff"),
        pytest.param(
            "clinic/\\uFDD0", f"x.toml: mqtt.prefix: {NONCHAR.format('U+FDD0')}", id="fdd0"
        ),
    ],
)
def test_a_prefix_that_breaks_topics_is_one_line(prefix: str, line: str) -> None:
    assert refused(f'prefix = "{prefix}"') == [line]


@pytest.mark.parametrize(
    ("ha_prefix", "line"),
    [
        pytest.param("a" * 201, "is longer than 200 bytes", id="long"),
        pytest.param("ha\\U0001FFFE", NONCHAR.format("U+1FFFE"), id="1fffe"),
        pytest.param("ha/x", "must be one topic level without wildcards, '/' or '$'", id="level"),
    ],
)
def test_an_ha_prefix_that_breaks_topics_is_one_line(ha_prefix: str, line: str) -> None:
    assert refused(f'ha_prefix = "{ha_prefix}"') == [f"x.toml: mqtt.ha_prefix: {line}"]


def test_prefixes_that_make_good_topics_are_taken() -> None:
    # Several levels, spaces and non-ASCII letters are topics like any other.
    for prefix in ("monitord", "clinic/north/monitord", "Praxis Süd", "a.b-c_d"):
        cfg = loads_config(f'[site]\nid = "s1"\n[mqtt]\nprefix = "{prefix}"\n{CHAIR}')
        assert cfg.mqtt.prefix == prefix


@pytest.mark.parametrize("level", ["fine", "\ufdd0", "\uffff"])
async def test_mosquitto_drops_the_connection_of_a_noncharacter_topic(
    mosquitto: Mosquitto, mqtt_prefix: str, level: str
) -> None:
    # The source of the noncharacter refusal: the broker the project ships with answers a
    # publish on such a topic by closing the connection (a fine one: its PUBACK).
    async with V5Client(mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        info = c.publish_now(f"{mqtt_prefix}/{level}/x", b"1", qos=1)
        await eventually(lambda: info.is_published() or c.lost is not None, 10, "an answer")
        assert (info.is_published(), c.lost is None) == (
            (True, True) if level == "fine" else (False, False)
        )


LOGIN_NONCHAR = (
    "contains the Unicode noncharacter U+FFFF, which the broker refuses in a login "
    "(it drops the connection)"
)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        pytest.param('[mqtt]\nusername = "chair\\uFFFF"\n' + CHAIR, "mqtt.username", id="user"),
        pytest.param('[mqtt]\nclient_id = "c1\\uFFFF"\n' + CHAIR, "mqtt.client_id", id="id"),
        pytest.param(
            CHAIR + 'mqtt_username = "c1\\uFFFF"\n', "chairs[0].mqtt_username", id="chair"
        ),
        pytest.param(
            '[station]\nid = "desk"\nnurses_file = "nurses"\nmqtt_username = "desk\\uFFFF"\n',
            "station.mqtt_username",
            id="station",
        ),
    ],
)
def test_a_login_the_broker_drops_is_one_line(toml: str, key: str) -> None:
    # Before, taken: the daemon's CONNECT was dropped unanswered, a broker that "times out".
    with pytest.raises(ConfigError) as e:
        loads_config(f'[site]\nid = "s1"\n{toml}', "x.toml")
    assert e.value.lines == [f"x.toml: {key}: {LOGIN_NONCHAR}"]


def mqtt_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return len(b).to_bytes(2, "big") + b


@pytest.mark.parametrize(
    ("client_id", "username"),
    [("fine", "fine"), ("c1\uffff", "fine"), ("fine", "chair\ufdd0")],
)
async def test_mosquitto_drops_a_connect_with_a_noncharacter_login(
    mosquitto: Mosquitto, client_id: str, username: str
) -> None:
    # The source of the login refusal: an MQTT 3.1.1 CONNECT written by hand (a client
    # library's timeout took seconds to tell the drop), answered by CONNACK or by EOF.
    body = mqtt_string("MQTT") + bytes([4, 0x80 | 0x02]) + (60).to_bytes(2, "big")
    body += mqtt_string(client_id) + mqtt_string(username)
    reader, writer = await asyncio.open_connection(mosquitto.host, mosquitto.port)
    try:
        writer.write(bytes([0x10, len(body)]) + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4), 10)
    finally:
        writer.close()
    assert answer == (b"\x20\x02\x00\x00" if "fine" == client_id == username else b"")


def escaped(host: str) -> str:
    """`host` as a TOML basic string writes it: what is not ASCII as a \\u escape."""
    return "".join(c if c.isascii() else f"\\u{ord(c):04X}" for c in host)


@pytest.mark.parametrize(
    ("host", "what"),
    [
        pytest.param("broker\ufffe", "the Unicode noncharacter U+FFFE", id="fffe"),
        pytest.param("bro\ufdd0ker.lan", "the Unicode noncharacter U+FDD0", id="fdd0"),
        pytest.param("broker\u200e.lan", "U+200E (LEFT-TO-RIGHT MARK)", id="invisible-mark"),
    ],
)
def test_a_host_no_lookup_takes_is_one_line(host: str, what: str) -> None:
    """Before, check-config said ok and the daemon logged each connection attempt as
    "internal error UnicodeError ... (a bug: please report it)", never connecting."""
    assert refused(f'host = "{escaped(host)}"') == [
        f"x.toml: mqtt.host: contains {what}, which no host name holds (IDNA refuses it): "
        "the name is never looked up, the daemon would never connect"
    ]
    # The source: the resolver the MQTT client connects with refuses it before any lookup.
    with pytest.raises(UnicodeError):
        socket.getaddrinfo(host, 1883)


def test_a_host_a_lookup_takes_is_kept() -> None:
    # An internationalised name is looked up as IDNA (xn--...): it may connect.
    for host in ["br\u00f6ker.lan", "fd00::10", "broker.local"]:
        toml = f'[site]\nid = "s1"\n[mqtt]\nhost = "{escaped(host)}"\n{CHAIR}'
        assert loads_config(toml, "x.toml").mqtt.host == host
