"""A record a cuff pushed from its memory is never published as the patient's vitals
(docs/operations.md, "Stored records": "Stored records are not published on MQTT
`vitals/{kind}` (live values only)"). `vitals/{kind}` is retained, latest per kind: a
3-day-old 190/115 published after today's 150/92 would stand on the station and on Home
Assistant as the patient's BP now. Against a real mosquitto.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from helpers import base_time, no_command, running

from monitord.config import MqttConfig, StorageConfig
from monitord.hub import CommittedBatch
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.sinks.mqtt import MqttSink
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "site-a"


def bp(sys_: float, dia: float, at_s: int) -> Reading:
    at = base_time() + timedelta(seconds=at_s)
    values = {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": None, "pulse_bpm": None}
    return Reading("chair-1", "cuff", Kind.BP, values, at, at)


async def test_a_stored_record_is_not_published_as_live_vitals(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", StorageConfig(path=tmp_path / "o.sqlite"))
    cfg = MqttConfig(host=mosquitto.host, port=mosquitto.port, prefix=mqtt_prefix, timeout_s=2)
    sink = MqttSink(cfg, SITE, ["chair-1"], outbox, no_command, backoff_base_s=0.1,
                    backoff_cap_s=0.5)  # fmt: skip
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    live = bp(150, 92, 0)
    # Pushed from memory, 3 days old, handed over in the same batch after the live one.
    old = replace(bp(190, 115, 1), stored=True, device_time=base_time() - timedelta(days=3))
    hr = Reading("chair-1", "band", Kind.HR, {"hr_bpm": 71.0}, live.measured_at,
                 live.received_at)  # fmt: skip
    async with Observer(mosquitto, [f"{base}/vitals/+"]) as obs, running(sink.run):
        await eventually(lambda: sink.connected, what="connected")
        sink.on_batch(CommittedBatch("chair-1", None, readings=[live, old]))
        await eventually(lambda: obs.of("vitals/bp"), within_s=10, what="the live BP")
        # A later reading: once it is heard, nothing of the first batch is still to come.
        sink.on_batch(CommittedBatch("chair-1", None, readings=[hr]))
        await eventually(lambda: obs.of("vitals/hr"), within_s=10, what="the next reading")
    assert [(p["sys_mmHg"], p["dia_mmHg"]) for p in obs.of("vitals/bp")] == [(150, 92)]
