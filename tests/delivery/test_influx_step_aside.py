"""Issue 20 (`inf`): the InfluxDB sink steps aside while an alarm is in flight.

Between its slices of `SLICE_S` of work (fetch and encode) the sink awaits `step_aside`; given
the store guard's `window.step_aside` (the daemon does), it waits there while an alarm is
in flight. The window is held open by the test (`window.open()`), so the wait lasts as
long as the test says:
- a batch of more than one slice does not reach influxd until `window.close()`; it lands,
  once, afterwards;
- a window nobody closes holds the sink up by `max_wait_s` per slice, never for good;
- a real `Daemon` with InfluxDB on wires its sink to its store guard's window.

Real influxd 1.6, real outbox on disk; "not yet" is checked at one moment, never timed.
`SLICE_S` is set to 0 here (a slice is one row), so how many slices a batch makes does
not depend on this machine's speed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import reading, running

from monitord.config import InfluxConfig, StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.sinks import influx
from monitord.sinks.influx import InfluxSink
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms
from tests.faults.writerkit import reading as live_reading
from tests.faults.writerkit import running as daemon_running
from tests.kit import eventually
from tests.servers import Influxd

SITE = "site-a"
ROWS = 24  # a batch of several slices (one row each, below)


@pytest.fixture(autouse=True)
def one_row_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(influx, "SLICE_S", 0.0)


def v1(influxd: Influxd, db: str) -> InfluxConfig:
    return InfluxConfig(
        url=influxd.url, api="v1", database=db, batch_size=100, flush_interval_s=0.05
    )


def points(influxd: Influxd, db: str) -> tuple[int, int]:
    rows = influxd.rows("SELECT * FROM vitals", db)
    return len(rows), len({(r["device"], r["time"]) for r in rows})


def store(tmp_path: Path) -> tuple[Outbox, StoreGuard]:
    p = tmp_path / "outbox.sqlite"
    ob = Outbox(p, StorageConfig(path=p))
    ob.add_readings([reading(i) for i in range(ROWS)], {"chair-1": "s-1"})
    ob.commit()
    return ob, StoreGuard(ob, TechAlarms())


async def test_sink_waits_for_the_alarm_window_to_close(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    ob, guard = store(tmp_path)
    window = guard.window
    window.max_wait_s = 60  # only the close ends the wait here
    window.open()  # an alarm in flight
    sink = InfluxSink(v1(influxd, influx_db), SITE, ob, step_aside=window.step_aside)
    async with running(sink.run):
        await eventually(lambda: window.waits > 0, what="the sink stepped aside")
        await asyncio.sleep(0.3)
        assert points(influxd, influx_db) == (0, 0)  # nothing sent while the alarm is in flight
        assert sink.stats.points == 0 and ob.backlog("influx") == ROWS
        window.close()
        await asyncio.wait_for(sink.wait_idle(), 30)
    assert points(influxd, influx_db) == (ROWS, ROWS)
    assert sink.stats.points == ROWS


async def test_a_window_never_closed_only_slows_the_sink(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    ob, guard = store(tmp_path)
    guard.window.max_wait_s = 0.05
    guard.window.open()  # and never closed (something broke)
    sink = InfluxSink(v1(influxd, influx_db), SITE, ob, step_aside=guard.window.step_aside)
    async with running(sink.run):
        await asyncio.wait_for(sink.wait_idle(), 30)
    assert points(influxd, influx_db) == (ROWS, ROWS)
    assert guard.window.waits >= ROWS - 1 and guard.window.in_flight


async def test_daemon_sink_steps_aside_for_its_store_window(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    text = (
        '[site]\nid = "inf"\n[mqtt]\nenabled = false\n'
        f'[influx]\napi = "v1"\nurl = "{influxd.url}"\ndatabase = "{influx_db}"\n'
        "flush_interval_s = 0.05\n"
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\ncommit_interval_s = 0.05\n'
        '[[chairs]]\nid = "chair-a"\n[[chairs]]\nid = "chair-b"\n'
    )
    daemon = Daemon(loads_config(text))
    window = daemon.store.window
    window.max_wait_s = 60
    async with daemon_running(daemon):
        window.open()  # stands for chair A's alarm in flight
        b = daemon.chairs["chair-b"]
        for i in range(ROWS):
            b.submit(live_reading("chair-b", Kind.HR, {"hr_bpm": 60.0 + i % 30}))
        await eventually(lambda: window.waits > 0, what="the daemon's InfluxDB sink stepped aside")
        await asyncio.sleep(0.3)
        assert points(influxd, influx_db) == (0, 0)
        window.close()
        await eventually(lambda: points(influxd, influx_db)[0] == ROWS, what="rows after close")
    assert points(influxd, influx_db) == (ROWS, ROWS)
