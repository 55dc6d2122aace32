"""`vitals/{kind}`'s `measured_at` is written as every other time of the MQTT contract:
ISO 8601 UTC with milliseconds and a Z (docs/mqtt.md: `2026-11-30T09:12:03.417Z`). It was
`datetime.isoformat()`: microseconds for a device time with them, and no fraction at all
for a whole second (every serial monitor's 1-s clock), so a consumer parsing the contract's
one format failed on some readings and not others."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitord.models import Kind, Reading

CONTRACT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.mark.parametrize(
    ("measured", "written"),
    [
        (datetime(2026, 11, 30, 9, 12, 3, tzinfo=UTC), "2026-11-30T09:12:03.000Z"),
        (datetime(2026, 11, 30, 9, 12, 3, 417_000, tzinfo=UTC), "2026-11-30T09:12:03.417Z"),
        (datetime(2026, 11, 30, 9, 12, 3, 417_250, tzinfo=UTC), "2026-11-30T09:12:03.417Z"),
        # a time given in another zone is written in UTC, as the contract says
        (
            datetime(2026, 11, 30, 10, 12, 3, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-30T09:12:03.000Z",
        ),
    ],
)
def test_measured_at_is_written_in_the_contracts_one_format(
    measured: datetime, written: str
) -> None:
    r = Reading(
        chair="chair-1",
        device="ox",
        kind=Kind.SPO2,
        values={"spo2_pct": 97.0, "pulse_bpm": 71.0},
        measured_at=measured,
        received_at=measured,
    )
    got = r.to_json()["measured_at"]
    assert CONTRACT.fullmatch(got), got
    assert got == written
