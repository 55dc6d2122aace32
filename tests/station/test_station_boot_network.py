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


async def test_a_misspelt_broker_name_is_not_queried_every_2_s_for_days(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a boot: a misspelt mqtt.host on the station. Before, a DNS query every 2 s for
    as long as it ran, said once as "not up yet". Now, past a boot's minutes (tlsclock.py
    BOOT_WINDOW_S, 10 min; 3 s here), said once more as no boot, at the usual backoff."""
    monkeypatch.setattr("monitord.tlsclock.BOOT_WINDOW_S", 3.0)
    path = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    path.write_text(path.read_text().replace(f'host = "{mosquitto.host}"', 'host = "x.invalid"'))
    cfg = load_config(path)

    def on_change(ch: Changes) -> None:
        pass

    caplog.set_level(logging.DEBUG, logger="monitord")
    bridge = Bridge(cfg, StationModel(cfg.mqtt.prefix, cfg.site.id), on_change)
    task = asyncio.create_task(bridge.run())

    def warned() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if "retrying in" in r.getMessage() and r.levelno >= logging.WARNING
        ]

    def late_delays() -> list[float]:  # the backoff's (jittered), past the window
        said = [r.getMessage() for r in caplog.records if "longer than a boot" in r.getMessage()]
        return [float(m.group(1)) for t in said if (m := re.search(r"in ([\d.]+) s", t))]

    try:
        await eventually(lambda: any(d > PROMPT_S for d in late_delays()), 60, "past a boot")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(warned()) == 2, warned()  # the boot's line, then once more past the window
    late = warned()[1]
    assert "longer than a boot takes" in late and "misspelt" in late, late
    assert max(late_delays()) > PROMPT_S, late_delays()  # before, never over 2 s
