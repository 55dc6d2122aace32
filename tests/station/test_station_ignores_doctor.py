"""Issue 16, "`monitord doctor` proves the round trip": it publishes on each topic the
chair needs "with a doctor marker that stations ignore". The station's model takes
`monitord doctor`'s test message (as doctor sends it, monitord/commands/doctor_mqtt.py)
on each of those topics as nothing: no chair shown or changed, and not refused as a bad
message either (a refusal is a WARNING in the station's log, bridge.py `_screened`: each
doctor run would read as a daemon sending malformed messages).

Found by mutation: dropping the model's doctor check passed every test: the one doctor
message the station tests sent carried a bad `time`, so it was refused as junk anyway.
"""

from __future__ import annotations

import json
import time

from monitord.commands.doctor_mqtt import TOPICS
from monitord.models import iso
from monitord.station.model import StationModel


def test_doctor_test_messages_change_nothing_and_are_not_refused() -> None:
    m = StationModel("monitord", "site")
    body = json.dumps({"doctor": True, "nonce": "0123abcd", "time": iso(time.time())})
    for topic in TOPICS:
        ch = m.apply(f"monitord/site/chair-1/{topic}", body.encode(), at=time.monotonic())
        assert ch.rejected is None, (topic, ch.rejected)
        assert not ch.chairs and not ch.events, (topic, ch)
    assert "chair-1" not in m.chairs, m.chairs
