"""A bug on one chair's MQTT connection (monitord/sinks/mqtt_connect.py) is logged at ERROR
asking "please report it with this line", but the line carried only the exception's repr
(`TypeError('Object of type set is not JSON serializable')`): no traceback, so the report
could not say where the bug was. Now the first of it carries its traceback (folded onto
the line by monitord/log.py); its repeats stay at DEBUG. Real mosquitto; the seam is the
one of test_mqtt_will_on_error.py (an active set JSON cannot encode).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitord.log import _OneLine
from monitord.outbox import Outbox
from tests.delivery.test_mqtt_will_on_error import make_sink, outbox, running, states
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

__all__ = ["outbox"]  # the fixture, used by name


async def test_a_bug_on_a_chairs_connection_is_logged_with_its_traceback(
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    outbox: Outbox,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    topic = f"{mqtt_prefix}/site-w/chair-1/status"
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    caplog.set_level(logging.DEBUG, logger="monitord.sinks.mqtt")
    async with Observer(mosquitto, [topic]) as obs, running(sink):
        await eventually(lambda: states(obs) == ["online"], 10, "online")
        sink.set_active("chair-1", [{"alert_id": "a-1", "ack": {"not", "json"}}])
        await eventually(lambda: "internal error" in (sink.stats.last_error or ""), 10)
    bugs = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert bugs and bugs[0].levelno == logging.ERROR, [r.getMessage() for r in bugs]
    line = _OneLine().format(bugs[0])
    assert "MQTT chair-1: internal error TypeError" in line, line
    assert "exc=Traceback (most recent call last):" in line and "json" in line, line
    assert "this line and its traceback" in line, line
    assert "\n" not in line
