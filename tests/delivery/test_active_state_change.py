"""`alerts/active` follows an alert's `state` when it changes without an alert event.

design.md section 6: `alerts/active` (retained) is `{"time", "alerts": [active alerts with
priority, state, ack]}`; docs/mqtt.md names the states: `active`, `inhibited`, or
`clear_pending` for a latched alert waiting for its ack. A latched alert's clear condition
starts holding (and stops again) on a reading that emits no event (clinical-rules.md
"Precise semantics": it stays active and escalating until acknowledged). Found by this
round's audit of delivery: the chair recomputed its active set only with an alert or
session event, so the station, the retained set and `monitord status` kept saying
`active` for a bp.crisis whose clear condition had held for many readings.

A real daemon in-process (no devices: readings are submitted to the chair) and the real
mosquitto; the station is a plain MQTT subscriber.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "active-state"


def crisis_state(obs: Observer) -> str | None:
    """The bp.crisis state in the newest `alerts/active` chair-a published."""
    sets = obs.of("chair-a/alerts/active")
    if not sets:
        return None
    last: dict[str, Any] = sets[-1]
    return next((a["state"] for a in last["alerts"] if a["rule"] == "bp.crisis"), None)


def bp(sys_: float, dia: float) -> Any:
    return reading("chair-a", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": dia})


async def test_a_latched_clear_shows_as_clear_pending_and_back_to_active(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    mqtt = f'host = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"'
    daemon = Daemon(loads_config(two_chairs(tmp_path, SITE, mqtt=mqtt)))
    topic = f"{mqtt_prefix}/{SITE}/chair-a/alerts/active"
    async with Observer(mosquitto, [topic]) as obs, running(daemon):
        chair = daemon.chairs["chair-a"]
        chair.submit(bp(210, 100))  # bp.crisis: 1 reading (latching)
        await eventually(lambda: crisis_state(obs) == "active", 20, "bp.crisis shown active")
        # Two readings with sys < 180 and dia < 110: the clear condition holds; latched,
        # the alert stays until acknowledged. No alert event: bp.severe is inhibited.
        chair.submit(bp(150, 90))
        chair.submit(bp(150, 90))
        await eventually(
            lambda: crisis_state(obs) == "clear_pending",
            20,
            "alerts/active showing bp.crisis clear_pending",
        )
        assert [a["state"] for a in chair.active] == ["clear_pending"], chair.active
        # A reading that breaks the clear run cancels the held clear: active again.
        chair.submit(bp(185, 100))
        await eventually(lambda: crisis_state(obs) == "active", 20, "bp.crisis active again")
        assert [a["state"] for a in chair.active] == ["active"], chair.active
