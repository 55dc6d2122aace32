"""Issue 16, "Local annunciator on the Pi": driven by "delivery failed, alarm not received,
and every active high-priority alert while delivery is failing". A publish the broker
refuses is delivery failing (`delivery.refused`, acceptance 1), as much as a broker that
cannot be reached: the annunciator sounds `technical` at once, and `high` while a high
alert is active, for nothing of it reaches the station.

Found by mutation: with `delivery.refused` left out of the keys the annunciator counts as
failing, every test passed (they drive it with the unreachable-broker alarm or the
no-receipt one); so did telling the delivery watch of a refusal only from the second one
on (the alarm a retry later). Real mosquitto 2.0 with the shipped ACL refusing chair-2's
publishes (it logs in as chair-1), the daemon in-process, a real annunciator command.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.acl_kit import AclMosquitto
from tests.faults.writerkit import reading
from tests.heard.heard_kit import CHAIR, annunciator_script, patterns, write_config
from tests.heard.test_refused_one_topic import running
from tests.kit import eventually


async def test_a_refused_publish_sounds_technical_and_a_high_alert_over_it_sounds_high(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    section, out = annunciator_script(tmp_path)
    cfg = write_config(tmp_path, broker, username="chair-1", annunciator=section, devices=False)
    daemon = Daemon(loads_config(cfg.read_text()))
    # Acceptance 1: the alarm is raised "within 2 s of the first refused publish": at the
    # first refusal itself (told by the sink as it reads the PUBACK), not at a retry.
    refused_at_raise: list[int] = []
    poke = daemon.alarms.on_change

    def told() -> None:
        if "delivery.refused" in daemon.alarms.active and not refused_at_raise:
            assert daemon.mqtt is not None
            refused_at_raise.append(daemon.mqtt.stats.refused)
        if poke is not None:
            poke()

    daemon.alarms.on_change = told
    async with running(daemon):
        # The chair's `online` status at connect is refused: no alert is active yet.
        await eventually(lambda: "delivery.refused" in daemon.alarms.active, 20, "refused")
        assert refused_at_raise == [1], refused_at_raise
        await eventually(lambda: patterns(out) == ["technical"], 10, "technical")
        chair = daemon.chairs[CHAIR]
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await asyncio.sleep(1.2)  # spo2.very_low (high): for_s = 1 in this config
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: patterns(out) == ["technical", "high"], 10, "high")
        assert "delivery.refused" in daemon.alarms.active  # still refused: nothing delivered
