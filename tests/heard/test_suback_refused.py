"""Issue 16, "MQTT v5 for every connection: read the PUBACK/SUBACK reason codes". A refused
subscription (SUBACK reason >= 0x80) means nurse commands or station receipts for the
chair never arrive: said at WARNING with the topic, the user and "check the ACL".

mosquitto 2.0 (the broker the other tests run) grants every subscription and filters per
message, so no test against it sees a refused SUBACK; other brokers (and mosquitto with
a plugin) answer 0x87 there. This test hands `check_suback` the reason codes as paho
decodes them from a SUBACK. Found by mutation: the check could be dropped with every test
passing.
"""

from __future__ import annotations

import logging

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from monitord.log import FailureLog
from monitord.sinks.mqtt_errors import check_suback

WANTED = ["monitord/site/chair-2/cmd/ack", "monitord/site/chair-2/alerts/receipts"]


def suback(*codes: int) -> list[ReasonCode]:
    return [ReasonCode(PacketTypes.SUBACK, identifier=c) for c in codes]


def test_a_refused_subscription_is_said_with_the_topic_user_and_acl(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flog = FailureLog(logging.getLogger("monitord.test.suback"), "MQTT chair-2 subscribe")
    with caplog.at_level(logging.WARNING, "monitord.test.suback"):
        check_suback(flog, "chair-1", WANTED, suback(0x01, 0x87))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1, said
    assert "broker refused subscriptions for user chair-1" in said[0], said
    assert "monitord/site/chair-2/alerts/receipts (not authorized (0x87))" in said[0], said
    assert "cmd/ack" not in said[0], said  # granted (QoS 1)
    assert "check the ACL" in said[0], said
    assert flog.failing


def test_granted_subscriptions_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    flog = FailureLog(logging.getLogger("monitord.test.suback"), "MQTT chair-2 subscribe")
    with caplog.at_level(logging.DEBUG, "monitord.test.suback"):
        check_suback(flog, "chair-2", WANTED, suback(0x01, 0x01))
    assert caplog.records == [] and not flog.failing
