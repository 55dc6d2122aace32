"""The station's broker connection and aiomqtt's "Unexpected message ID" (the daemon's
side: tests/faults/test_mqtt_late_ack.py). aiomqtt logs a SUBACK that comes after its
subscribe was given up on (timed out: a slow or paused broker; cancelled: a reconnect)
with `logger.exception`: an ERROR with a KeyError traceback. The daemon's MQTT clients
log through a logger whose filter makes that one DEBUG line (monitord/sinks/mqtt_errors.py);
the station's client logged to aiomqtt's default `mqtt` logger, unfiltered, so the
station's journal had the traceback, for a harmless late answer. The station's real
client against the real mosquitto, stopped (SIGSTOP) under a subscribe.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import load_config
from monitord.station.server import Station
from tests.servers import Mosquitto
from tests.station.station_kit import station_config


async def test_a_late_suback_on_the_stations_client_logs_no_error(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    station = Station(
        load_config(station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix))
    )
    caplog.set_level(logging.INFO)
    async with station.bridge._make_client() as client:
        mosquitto.pause()
        try:
            with pytest.raises(aiomqtt.MqttError, match="timed out"):
                await client.subscribe(f"{mqtt_prefix}/x/status", 1, timeout=0.5)
        finally:
            mosquitto.resume()
        await client.publish(f"{mqtt_prefix}/x/sentinel", b"s", 1)  # after the SUBACK
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]
