"""Home Assistant MQTT discovery (issue 19): with `[mqtt] ha_discovery = true` a real
daemon publishes, on a real mosquitto, retained discovery documents for its chair whose
entities read topics the daemon really publishes, with fields its payloads really have;
without the option it publishes none."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import aiomqtt

from tests.e2e.e2e_kit import (
    CHAIR,
    COUNTING_COMMIT_S,
    SITE,
    DaemonProcess,
    Oximeter,
    mqtt_section,
    whole_second,
    write_config,
)
from tests.servers import Mosquitto


async def retained(broker: Mosquitto, topics: list[str], want: int) -> dict[str, Any]:
    """Messages on `topics` (JSON), until `want` distinct topics arrived (30 s at most)."""
    got: dict[str, Any] = {}
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        for t in topics:
            await c.subscribe(t, qos=1)
        async with asyncio.timeout(30):
            async for m in c.messages:
                got[str(m.topic)] = json.loads(bytes(m.payload))
                if len(got) >= want:
                    return got
    raise AssertionError("unreachable")


async def test_chair_appears_in_home_assistant(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    ha = f"ha{uuid.uuid4().hex[:8]}"
    mqtt = mqtt_section(mosquitto, mqtt_prefix) + f'ha_discovery = true\nha_prefix = "{ha}"\n'
    # Readings committed (and so published as vitals) every 0.5 s, not 5: the wait for a
    # live vitals message below takes a moment, not up to a whole interval.
    cfg = write_config(tmp_path, mqtt=mqtt, extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n")
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            docs = await retained(mosquitto, [f"{ha}/#"], 7)
            feed = asyncio.create_task(feed_until_cancelled(ox))
            try:
                live = await retained(
                    mosquitto, [f"{base}/status", f"{base}/vitals/spo2", f"{base}/alerts/active"], 3
                )
            finally:
                feed.cancel()
        finally:
            assert daemon.stop() == 0, daemon.output()

    node = f"monitord_{SITE}_{CHAIR}"
    assert sorted(docs) == sorted(
        [f"{ha}/sensor/{node}/{o}/config" for o in ("sys", "dia", "map", "hr", "spo2")]
        + [f"{ha}/sensor/{node}/active_alerts/config", f"{ha}/binary_sensor/{node}/link/config"]
    )
    for topic, doc in docs.items():
        assert doc["device"]["identifiers"] == [node], topic
        assert doc["unique_id"].startswith(node)
        assert doc["state_topic"].startswith(f"{base}/"), doc
    # Each entity reads a field that the daemon's own payload on that topic has.
    for obj, payload_topic in (("spo2", "vitals/spo2"), ("active_alerts", "alerts/active")):
        doc = docs[f"{ha}/sensor/{node}/{obj}/config"]
        assert doc["state_topic"] == f"{base}/{payload_topic}"
        field = re.search(r"\{\{ value_json\.(\w+)", doc["value_template"].split("{% else %}")[1])
        assert field and field.group(1) in live[f"{base}/{payload_topic}"], doc["value_template"]
    link = docs[f"{ha}/binary_sensor/{node}/link/config"]
    assert live[f"{base}/status"]["state"] == link["payload_on"]
    assert "doctor" in link["value_template"]  # monitord doctor's test messages are ignored


async def feed_until_cancelled(ox: Oximeter) -> None:
    while True:
        await ox.send(97.0, whole_second())
        await asyncio.sleep(0.5)


async def test_no_discovery_unless_asked(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix))
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path):
        daemon.start()
        try:
            # status arrives (the daemon is up); no discovery document under the default
            # prefix names this chair's node
            got = await retained(mosquitto, [f"{base}/status"], 1)
            assert got[f"{base}/status"]["state"] == "online"
            await asyncio.sleep(1.0)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as c:
                await c.subscribe(f"homeassistant/+/monitord_{SITE}_{CHAIR}/#", qos=1)
                await c.subscribe(f"{base}/status", qos=1)
                async with asyncio.timeout(10):
                    async for m in c.messages:
                        assert str(m.topic) == f"{base}/status", m.topic
                        break
        finally:
            assert daemon.stop() == 0, daemon.output()
