"""A chair's clock stretch that its clock row drops (it keeps the last `MAX_OFFSETS`) while
the InfluxDB sink has it in flight, or has it waiting after a failed write, reaches
InfluxDB exactly once: neither sent twice nor never; then the sink forgets it
(monitord/sinks/influx_clock.py, which forgets what it sent of a stretch once the row no
longer holds it). A new run (a daemon restart) sends again what the row holds, an
overwrite of the same points, and never a stretch the row dropped.

Against the real influxd; a failed write is a real one, to a port nothing listens on.
What went out is seen by wrapping the real write (`Spy`), since InfluxDB keeps one point
per stretch however often it is written.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_influx_sink import SITE, v1_cfg

from monitord.clock import MAX_OFFSETS
from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.influx import _V1Transport
from monitord.sinks.influx_clock import ClockOffsets
from monitord.sinks.influx_http import WriteError, WriteRejected, WriteTooLarge
from monitord.store.base import Durability
from tests.servers import Influxd

T0 = 1_780_000_000.0  # 2026-05-28: inside the test db's retention
REFUSED = (WriteRejected, WriteTooLarge)
KEY = "clock/chair-1"


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


def start(i: int) -> float:
    return T0 + i * 3600.0


def row(outbox: Outbox, first: int, last: int) -> None:
    """The chair's clock row holding stretches first..last (each an hour on, ended, 3 h
    off UTC), as the clock writes it: at most its newest MAX_OFFSETS."""
    assert last - first < MAX_OFFSETS
    offsets = [[start(i), start(i) + 600.0, 10800.0] for i in range(first, last + 1)]
    value = {"t": start(last) + 700.0, "wall": start(last) + 700.0, "offsets": offsets}
    outbox.put_state(KEY, value, durability=Durability.SYNC)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Spy:
    """The real write, counting the stretches it got through (by start)."""

    def __init__(self, transport: _V1Transport) -> None:
        self.transport = transport
        self.sent: Counter[str] = Counter()

    async def send(self, lines: Sequence[str]) -> None:
        await self.transport.send(lines)
        self.sent.update(line.split('start="', 1)[1].split('"', 1)[0] for line in lines)


def _iso(i: int) -> str:
    """Stretch i's `start` field."""
    return datetime.fromtimestamp(start(i), UTC).isoformat().replace("+00:00", "Z")


async def test_a_stretch_dropped_by_the_row_while_failed_or_in_flight_goes_once(
    influxd: Influxd, influx_db: str, outbox: Outbox
) -> None:
    cfg = v1_cfg(influxd, influx_db)
    good = _V1Transport(cfg)
    down = _V1Transport(cfg.model_copy(update={"url": f"http://127.0.0.1:{closed_port()}"}))
    spy = Spy(good)
    clock = ClockOffsets(outbox, SITE)
    try:
        # Stretch 0 goes out; stretch 1 fails (InfluxDB unreachable) ...
        row(outbox, 0, 0)
        assert await clock.flush(spy.send, REFUSED) == 1
        row(outbox, 0, 1)
        clock.due()
        with pytest.raises(WriteError):
            await clock.flush(down.send, REFUSED)
        # ... and the row moves on past it while InfluxDB stays away: 0 and 1 dropped.
        for last in range(2, MAX_OFFSETS + 2):
            row(outbox, max(0, last - MAX_OFFSETS + 1), last)
            clock.due()
            with pytest.raises(WriteError):
                await clock.flush(down.send, REFUSED)
        # Back: stretch 1, failed before the row dropped it, goes out with the rest.
        assert await clock.flush(spy.send, REFUSED) == MAX_OFFSETS + 1

        # In flight: stretch 52 is being written when the row drops it (50 more steps),
        # and the sink looks at the row meanwhile (its `wait_idle` does).
        row(outbox, 3, 52)
        clock.due()

        async def in_flight(lines: Sequence[str]) -> None:
            row(outbox, 53, 52 + MAX_OFFSETS)
            clock.due()
            await spy.send(lines)

        assert await clock.flush(in_flight, REFUSED) == 1
        assert await clock.flush(spy.send, REFUSED) == MAX_OFFSETS
        assert await clock.flush(spy.send, REFUSED) == 0  # nothing left, nothing again
        last = 52 + MAX_OFFSETS
        # Every stretch reached InfluxDB, each exactly once.
        assert spy.sent == Counter(_iso(i) for i in range(last + 1)), spy.sent
        points = influxd.rows("SELECT * FROM clock_offset", influx_db)
        assert sorted(str(p["start"]) for p in points) == [_iso(i) for i in range(last + 1)]
        # What the sink remembers is what the row holds, once it rewrote the row.
        row(outbox, last - MAX_OFFSETS + 2, last + 1)
        clock.due()
        assert await clock.flush(spy.send, REFUSED) == 1
        assert len(clock._sent) + len(clock._due) == MAX_OFFSETS

        # A daemon restart: the new run sends the row's stretches again (overwrites of
        # the same points), none the row dropped.
        spy.sent.clear()
        again = ClockOffsets(outbox, SITE)
        assert await again.flush(spy.send, REFUSED) == MAX_OFFSETS
        held = range(last - MAX_OFFSETS + 2, last + 2)
        assert spy.sent == Counter(_iso(i) for i in held), spy.sent
        points = influxd.rows("SELECT * FROM clock_offset", influx_db)
        assert len(points) == last + 2, len(points)
    finally:
        await good.close()
        await down.close()
