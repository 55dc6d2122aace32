"""The nurses' station on a machine whose network is not up yet at boot (docs/station.md,
"As a service"): the broker's name does not resolve (a real resolver failure: `.invalid`,
RFC 6761). Before, the bridge said "cannot reach broker ...: [Errno -2] Name or service
not known" and backed off to 15 s, so the wallboards showed CONNECTION LOST up to 15 s
after the network came up. Now one line saying the name does not resolve and what to
check, and retries every 2 s (the delays the bridge logs). The bridge in process.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from monitord.config import load_config
from monitord.station.bridge import Bridge
from monitord.station.model import Changes, StationModel
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import station_config

# The longest wait between attempts at boot (monitord/tlsclock.py CLOCK_RETRY_S).
PROMPT_S = 2.0


async def test_a_broker_name_that_does_not_resolve_is_retried_every_2_s(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    text = path.read_text()
    assert f'host = "{mosquitto.host}"' in text
    path.write_text(text.replace(f'host = "{mosquitto.host}"', 'host = "broker.invalid"'))
    cfg = load_config(path)

    def on_change(ch: Changes) -> None:
        pass

    caplog.set_level(logging.DEBUG, logger="monitord")
    bridge = Bridge(cfg, StationModel(cfg.mqtt.prefix, cfg.site.id), on_change)
    task = asyncio.create_task(bridge.run())

    def tries() -> list[str]:
        return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]

    try:
        await eventually(lambda: len(tries()) >= 6, 60, "six attempts")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    first = tries()[0]
    assert "broker host broker.invalid does not resolve" in first, first
    assert "getent hosts broker.invalid" in first, first
    delays = [float(m.group(1)) for t in tries() if (m := re.search(r"in ([\d.]+) s", t))]
    assert max(delays) <= PROMPT_S, delays
