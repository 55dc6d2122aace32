"""clinical-rules.md "Delivery of alarms": timestamps are UTC, also on a host whose local
time zone is not (a Pi in a clinic is set to local time; the test machines run in UTC, where
a local-time stamp looks right). The daemon's own payloads carry `Z` times; a device clock,
which these protocols do not zone, is read as UTC whatever the host's zone."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitord.cli import main as cli_main
from monitord.models import AlertEvent, Kind, Reading
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import line

# UTC+14: no host's local time is further from UTC, so no stamp can pass by accident.
ZONE = "Pacific/Kiritimati"
AT = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def far_zone() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    try:
        assert time.localtime(AT.timestamp()).tm_gmtoff == 14 * 3600, f"{ZONE} not installed"
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_alert_event_and_reading_times_are_utc(far_zone: None) -> None:
    ev = AlertEvent(
        AT.timestamp(), "chair-1", "bp.crisis", "raised", "high", "physiological",
        "chair-1:bp.crisis:1", "idle", {}, "BP 210/100 >= 200/120 (1 reading)",
    )  # fmt: skip
    assert ev.to_mqtt()["time"] == "2026-01-05T09:00:00.000Z"
    r = Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, AT, AT)
    assert r.to_json()["measured_at"] == "2026-01-05T09:00:00.000Z"  # as the alert's time


def test_a_device_clock_is_read_as_utc_whatever_the_host_zone(
    far_zone: None, capsys: pytest.CaptureFixture[str]
) -> None:
    text = line(SimEvent(Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 70.0}), AT).decode().strip()
    assert text.startswith("01/05/26 09:00:00 "), text
    assert cli_main(["decode", "--profile", "masimo-ascii", text]) == 0
    (out,) = capsys.readouterr().out.splitlines()
    assert datetime.fromisoformat(json.loads(out)["measured_at"]) == AT
