"""A sensor whose every sample is invalid (a faulty SpO2 sensor: the device marks its values
not valid, contact unchanged) raises no alarm: every rule skips invalid samples
(clinical-rules.md), the link is up and contact is not lost. Before, nothing showed it:
`monitord status` had the readings count going up and no reject, and the count of invalid
samples lived only in the engine's state. Now status counts them per device."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitord.chair import DeviceStatus, Item
from monitord.commands.status import render
from monitord.hub import Hub
from monitord.models import Kind, Reading
from tests.kit import SetClock, make_chair

T0 = 1_800_000_000.0


def _spo2(
    t: float, v: float, valid: bool = True, contact: bool | None = None, stored: bool = False
) -> Reading:
    at = datetime.fromtimestamp(T0 + t, UTC)
    values = {"spo2_pct": v}
    return Reading(
        "chair-1", "oxi", Kind.SPO2, values, at, at, valid, contact=contact, stored=stored
    )


def test_status_counts_the_samples_every_rule_skipped(tmp_path: Path) -> None:
    clock = SetClock(T0)
    chair = make_chair(tmp_path, Hub(), clock=clock)
    chair.devices = {"oxi": DeviceStatus("oxi", "masimo-ascii")}
    items: list[Item] = [
        _spo2(1, 80.0, valid=False),  # the device's verdict
        _spo2(2, 97.0, contact=False),  # probe off
        _spo2(3, 30.0),  # out of range: implausible
        _spo2(4, 97.0),  # valid
        _spo2(5, 80.0, valid=False, stored=True),  # history
    ]
    clock.t = T0 + 5
    chair.process(items)
    dev = chair.status()["devices"]["oxi"]
    assert (dev["readings"], dev["stored"], dev["invalid"]) == (5, 1, 3)
    # The engine skipped exactly those (its own count, which nothing shows).
    assert chair.engine.chairs["chair-1"].invalid_samples == 3
    chairs = {"chair-1": {"state": chair.status(), "updated": None, "last_readings": {}}}
    st = {"store": "o.sqlite", "chairs": chairs, "backlog": {}, "counters": {}}
    text = render(st)
    assert "invalid=3" in text
