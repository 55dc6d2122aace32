"""A station status that is not the contract's (a tool publishing a plain `online` as its
Last Will, say) is retained by the broker and sent again at every subscription: on every
chair's connection, at every reconnect (a broker restart, a network flap). Each copy was
a WARNING, so a Pi with 2 chairs logged 2 more at every broker restart, for months. The
house rule: WARNING once, DEBUG on repeats (again at WARNING only after the station sent
a good status in between).

An in-process daemon with two chairs on a real mosquitto, restarted twice; the WARNING
count after the second restart must not be above the count before the first.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiomqtt
import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.kit import eventually
from tests.servers import Mosquitto

LOGGER = "monitord.receipts"


async def publish(broker: Mosquitto, topic: str, payload: bytes) -> None:
    """Retained, QoS 1, as a station's status is (an empty payload clears it)."""
    async with aiomqtt.Client(broker.host, broker.port, timeout=10) as c:
        await c.publish(topic, payload, qos=1, retain=True)


def ignored(caplog: pytest.LogCaptureFixture, level: int | None = None) -> int:
    return sum(
        r.name == LOGGER
        and "status ignored" in r.getMessage()
        and (level is None or r.levelno == level)
        for r in caplog.records
    )


async def test_refused_retained_station_status_is_warned_once_across_reconnects(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    topic = f"{mqtt_prefix}/soak/stations/ha-tablet"
    await publish(mosquitto, topic, b"online")  # not JSON
    cfg = loads_config(
        '[site]\nid = "soak"\n'
        f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"\n'
        "[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        '[[chairs]]\nid = "chair-1"\n[[chairs]]\nid = "chair-2"\n'
    )
    daemon = Daemon(cfg, restart_backoff_s=(0.1, 0.5))
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: ignored(caplog) >= 2, 20, "both chairs got the status")
        warned = ignored(caplog, logging.WARNING)
        for n in (4, 6):  # two broker restarts: each chair subscribes again
            mosquitto.stop()
            mosquitto.start()

            def handled(n: int = n) -> bool:
                return ignored(caplog) >= n

            await eventually(handled, 30, f"{n} copies handled")
        assert warned == ignored(caplog, logging.WARNING) == 1, caplog.text
        # A good status from that station, then a bad one again: a new run, warned.
        await publish(mosquitto, topic, b'{"state": "online"}')
        await eventually(lambda: daemon.receipts.online() == ["ha-tablet"], 10, "good status")
        await publish(mosquitto, topic, b"offline")
        await eventually(lambda: ignored(caplog, logging.WARNING) == 2, 10, "warned again")
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 15)
        await publish(mosquitto, topic, b"")  # the retained status cleared
