"""Issue 16, "Local annunciator": driven by "delivery failed, alarm not received, and every
active high-priority alert while delivery is failing. Patterns distinguish high from
technical." A medium alert (hr.high) while delivery fails leaves the pattern `technical`:
`high` is the pattern of a high-priority alarm the station may not be showing, and
sounding it for a medium one would be an alarm signal of the wrong priority
(IEC 60601-1-8).

Found by mutation: counting medium alerts as high passed every test (they raise
spo2.very_low, a high one). The daemon in-process with its real annunciator command, a
chair's readings submitted, the delivery alarm raised as the watch raises it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord import annunciator
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.delivery import KEY as DELIVERY_KEY
from monitord.models import Kind
from tests.faults.writerkit import reading, running, two_chairs
from tests.heard.heard_kit import annunciator_script, patterns
from tests.kit import eventually


async def test_a_medium_alert_while_delivery_fails_sounds_technical_not_high(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(annunciator, "LOOK_S", 60.0)  # every change is poked
    section, out = annunciator_script(tmp_path)
    alerts = '"hr.high" = { for_s = 0 }\n'
    daemon = Daemon(loads_config(two_chairs(tmp_path, "medium", alerts=alerts) + section))
    chair = daemon.chairs["chair-a"]
    async with running(daemon):
        await eventually(lambda: daemon.annunciator.turns >= 1, what="the first look")
        daemon.alarms.raise_(DELIVERY_KEY, "a test: the broker is unreachable")
        await eventually(lambda: patterns(out) == ["technical"], 5, "technical")
        chair.submit(reading("chair-a", Kind.HR, {"hr_bpm": 130.0}))  # hr.high: medium
        await eventually(
            lambda: any(a.get("rule") == "hr.high" for a in chair.active), 5, "hr.high raised"
        )
        assert all(a.get("priority") == "medium" for a in chair.active), chair.active
        assert daemon.annunciator_pattern() == "technical"  # what the annunciator sounds
        daemon.alarms.clear(DELIVERY_KEY, "a test: delivered again")
        await eventually(lambda: patterns(out)[-1:] == ["off"], 5, "off")
    # The command ran once per change: never `high` in between.
    assert patterns(out) == ["technical", "off"], patterns(out)
