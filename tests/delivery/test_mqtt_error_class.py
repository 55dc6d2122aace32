"""Connection failures are classified by exception type and MQTT return code, not by the
wording of the message (sinks/mqtt.py `_describe`)."""

from __future__ import annotations

import ssl

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttConnectError

from monitord.config import MqttConfig
from monitord.sinks.mqtt import _describe
from monitord.sinks.mqtt_errors import chair_login_words, station_login_words
from tests.servers import free_port

CFG = MqttConfig(host="127.0.0.1", port=1883, prefix="p", timeout_s=2)


async def _connect_error(port: int) -> aiomqtt.MqttError:
    client = aiomqtt.Client("127.0.0.1", port, timeout=2)
    with pytest.raises(aiomqtt.MqttError) as info:
        async with client:
            pass
    return info.value


async def test_closed_port_is_refused_from_the_socket_error() -> None:
    e = await _connect_error(free_port())
    assert _describe(e, CFG)[0] == "refused"


def test_publish_without_connection_rc4_is_a_lost_link_not_a_refused_login() -> None:
    # paho's MQTT_ERR_NO_CONN is 4, as is MQTT 3.1.1's CONNACK "bad user name or
    # password": only a CONNACK code means the login was refused.
    e = aiomqtt.MqttCodeError(4, "Could not publish message")
    cls, msg = _describe(e, CFG)
    assert cls == "lost" and "login" not in msg


@pytest.mark.parametrize("rc", [4, 5])
def test_connack_auth_codes_are_auth(rc: int) -> None:
    cls, msg = _describe(MqttConnectError(rc), CFG)
    assert cls == "auth" and "mqtt.password_file" in msg


def test_connack_server_unavailable_is_not_auth() -> None:
    assert _describe(MqttConnectError(3), CFG)[0] == "refused"


def test_tls_failure_under_mqtt_error_is_tls_whatever_the_text() -> None:
    try:
        try:
            raise ssl.SSLError(1, "handshake failure")
        except ssl.SSLError:
            raise aiomqtt.MqttError("handshake went wrong") from None
    except aiomqtt.MqttError as e:
        assert _describe(e, CFG)[0] == "tls"


def test_broker_text_mentioning_tls_is_not_a_tls_failure() -> None:
    # A disconnect whose reason text happens to contain "ssl"/"refused" is still a loss.
    e = aiomqtt.MqttCodeError(7, "session refused: tls-gateway restarted")
    assert _describe(e, CFG)[0] == "lost"


def test_a_refused_login_is_worded_alike_for_the_chairs_and_the_station(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One wording for the settings of a refused login (sinks/mqtt_errors.login_words),
    which the sink, the station and `doctor` each add their own words around. Before,
    each worded it apart (doctor: "the password in mqtt.password_file", "[station]
    mqtt_username and its password (... or mqtt_password_file)", "the chair's ...")."""
    env, st_env = "MONITORD_MQTT_PASSWORD", "MONITORD_STATION_MQTT_PASSWORD"
    monkeypatch.delenv(env, raising=False)
    monkeypatch.delenv(st_env, raising=False)
    assert chair_login_words(None, env) == "mqtt.username and mqtt.password_file"
    assert chair_login_words("chair-1", None) == (
        "chair chair-1's mqtt_username and mqtt_password_file"
    )
    assert station_login_words() == "station.mqtt_username and station.mqtt_password_file"
    monkeypatch.setenv(env, "pw")
    monkeypatch.setenv(st_env, "pw")
    assert chair_login_words(None, env) == (
        f"mqtt.username and the password in {env} (it replaces mqtt.password_file)"
    )
    assert chair_login_words("chair-1", None).endswith("mqtt_password_file")  # no variable
    assert station_login_words() == (
        f"station.mqtt_username and the password in {st_env} "
        "(it replaces station.mqtt_password_file)"
    )
    _cls, said = _describe(MqttConnectError(5), CFG, login=station_login_words())
    assert said.endswith(f"; check {station_login_words()}"), said
