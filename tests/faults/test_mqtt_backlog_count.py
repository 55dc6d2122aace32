"""A failed broker connection's log line counts the chair's queued alerts up to a bound.

Each failed connect or reconnect of a chair logs "...; N alert events queued; retrying in
...", on the event loop. N was an exact count, which reads every pending row of the
outage: what each retry cost the loop (every chair's readings and alarms wait behind it)
grew with the outage. Now it stops past LOG_BACKLOG_AT_MOST ("over 10,000"), as the
InfluxDB sink's does (tests/delivery/test_backlog_count.py). Costs are SQLite VM steps on
the loop's read connection (a progress handler): exact, unlike a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink
from monitord.sinks.mqtt_connect import LOG_BACKLOG_AT_MOST
from tests.delivery.helpers import alert
from tests.kit import eventually
from tests.servers import free_port


async def no_command(chair: str, cmd: Command) -> str | None:
    return None


def store(path: Path, n: int) -> Outbox:
    """`n` alert events of chair-1 waiting for the sinks, committed in thousands."""
    ob = Outbox(path, StorageConfig(path=path))
    for i in range(0, n, 1000):
        ob.add_alerts([alert(j) for j in range(i, min(n, i + 1000))])
        ob.commit()
    return ob


async def first_failure(ob: Outbox, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    """A sink against a real refused connection (nothing listens on the port) until its
    first failure is logged: the SQLite steps on the loop's connection, and the line."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    cfg = MqttConfig(host="127.0.0.1", port=free_port(), timeout_s=1)
    sink = MqttSink(cfg, "site-a", ["chair-1"], ob, no_command, backoff_base_s=30.0)
    caplog.clear()
    db: sqlite3.Connection = ob._rdb
    db.set_progress_handler(tick, 1)
    with caplog.at_level(logging.WARNING, "monitord.sinks.mqtt"):
        task = asyncio.create_task(sink.run())
        try:
            await eventually(lambda: any("retrying in" in r.getMessage() for r in caplog.records),
                             10, "the first failure logged")  # fmt: skip
        finally:
            db.set_progress_handler(None, 1)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    line = next(r.getMessage() for r in caplog.records if "retrying in" in r.getMessage())
    return steps[0], line


async def test_a_failed_connect_costs_the_loop_the_same_whatever_the_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """12,000 and 36,000 alert events queued: the same bounded count (an exact one read
    the 24,000 rows more)."""
    steps: dict[int, int] = {}
    for n in (12_000, 36_000):
        ob = store(tmp_path / f"o{n}.sqlite", n)
        steps[n], line = await first_failure(ob, caplog)
        assert f"; over {LOG_BACKLOG_AT_MOST:,} alert events queued; retrying in" in line, line
        ob.close()
    assert abs(steps[36_000] - steps[12_000]) < 2_000, steps
    # Below the bound the figure is exact.
    ob = store(tmp_path / "small.sqlite", 7)
    assert "; 7 alert events queued; retrying in" in (await first_failure(ob, caplog))[1]
    ob.close()
