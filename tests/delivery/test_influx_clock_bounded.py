"""A daemon that runs for months keeps what it sent of the chairs' clock stretches bounded.

A chair's clock row keeps its last `MAX_OFFSETS` stretches off UTC (monitord/clock.py),
and the InfluxDB sink sends each one as a `clock_offset` point (sinks/influx_clock.py),
remembering what InfluxDB accepted so a stretch is not sent again. That memory kept every
stretch of the run, also those long gone from the row: one entry (its line, ~200 bytes)
per clock step a chair did not follow, for as long as the daemon ran. Against the real
influxd: after three rows' worth of stretches, it holds no more than one row's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_influx_sink import SITE, drained, running, v1_cfg

from monitord.clock import MAX_OFFSETS
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from monitord.store.base import Durability
from tests.servers import Influxd

T0 = 1_780_000_000.0  # 2026-05-28: inside any retention policy's shard the test db has


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def stretch(i: int) -> list[float | None]:
    """The i-th stretch: an hour each, 3 h off UTC (a clock step not followed), ended."""
    start = T0 + i * 3600.0
    return [start, start + 600.0, 10800.0]


async def test_stretches_sent_are_remembered_only_while_the_clock_row_has_them(
    influxd: Influxd, influx_db: str, outbox: Outbox
) -> None:
    sink = InfluxSink(v1_cfg(influxd, influx_db), SITE, outbox)
    steps = 3 * MAX_OFFSETS
    async with running(sink):
        for n in range(1, steps + 1):
            # As the chair's clock writes its row: its newest MAX_OFFSETS stretches.
            offsets = [stretch(i) for i in range(max(0, n - MAX_OFFSETS), n)]
            row = {"t": T0 + n * 3600.0, "wall": T0 + n * 3600.0, "offsets": offsets}
            outbox.put_state("clock/chair-1", row, durability=Durability.SYNC)
            await drained(sink)
    # Every stretch reached InfluxDB (the sink did its work) ...
    points = influxd.rows("SELECT * FROM clock_offset", influx_db)
    assert len(points) == steps, len(points)
    # ... and what it remembers of them is what the row still holds.
    kept = len(sink._clock._sent) + len(sink._clock._due)
    assert kept <= MAX_OFFSETS, f"{kept} stretches remembered after {steps} clock steps"
