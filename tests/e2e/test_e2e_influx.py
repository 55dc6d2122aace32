"""Issue 6, daemon level: InfluxDB outages and a daemon crash lose no reading.

Path under test: Masimo lines on a pty -> serial transport -> decoder -> chair task ->
outbox (SQLite) -> InfluxDB sink -> influxd 1.6 (api v1) or victoria-metrics (api v2).
"Produced" is what the daemon committed to its outbox; "arrived" is what the server
returns. Outages are real: the server process is stopped (connection refused) or frozen
with SIGSTOP (TCP accepted, nothing answered: writes time out and "may have landed").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from e2e_kit import (
    COUNTING_COMMIT_S,
    SITE,
    DaemonProcess,
    Oximeter,
    Store,
    daemon_in_process,
    eventually,
    in_thread,
    influx_v1,
    influx_v2,
    warm_up,
    whole_second,
    write_config,
)

from monitord.sinks.influx import InfluxSink
from tests.servers import Influxd, ServerProcess, VictoriaMetrics, json_int

# The outage lasts until it has shown what it must, a wait on that, not a fixed time: writes
# failed, were retried after a backoff and failed again (a frozen server is met by
# timeouts at the test's 2-s write timeout, a stopped one by refusals), and readings piled
# up meanwhile. A fixed 8 s (two whole attempt cycles of a frozen server) was ~6 s more
# than a refusing server needs, in two of the four cases.
FAILED_WRITES = 2
PILED_UP = 8  # readings stored during the outage (~2 s of the stream's 4 a second)
# The stream's device clock starts this far behind the wall clock and gains 3 s per wall
# second (4 lines/s, 1 s apart), so it stays within the 5 min the daemon trusts a device
# clock for, and never runs ahead of the wall clock (VictoriaMetrics' export, like most
# dashboards, only returns samples up to "now") for the ~25 s a test streams.
STREAM_LAG_S = 270
# Readings committed every 0.5 s (the default 5 s is tested in tests/faults): `warm_up`
# then settles well inside the serial link's 5-s silence timeout.
COUNTING = f"commit_interval_s = {COUNTING_COMMIT_S}\n"


def v1_stamps(influxd: Influxd, db: str) -> tuple[int, list[int]]:
    """(count("valid"), every vitals timestamp in ns) as InfluxDB 1.6 returns them."""
    rows = influxd.rows('SELECT count("valid") FROM vitals', db)
    count = json_int(rows[0]["count"]) if rows else 0
    stamps = [json_int(r["time"]) for r in influxd.rows('SELECT "valid" FROM vitals', db)]
    return count, stamps


def vm_stamps(vm: VictoriaMetrics, site: str) -> list[int]:
    """Every `vitals_valid` sample timestamp (ms) of this site, across all series."""
    series = vm.export(f'{{__name__="vitals_valid",site="{site}"}}')
    stamps: list[int] = []
    for s in series:
        assert isinstance(s["timestamps"], list)
        stamps += s["timestamps"]
    return stamps


def warm_start() -> datetime:
    """Where warm-up lines are stamped: before the stream's device times."""
    now: datetime = whole_second()
    return now - timedelta(seconds=290)


@pytest.mark.parametrize("outage", ["stop", "pause"])
@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_influx_outage_mid_stream_every_reading_arrives_once(
    request: pytest.FixtureRequest, tmp_path: Path, api: str, outage: str
) -> None:
    srv: ServerProcess
    if api == "v1":
        srv = request.getfixturevalue("influxd")
        db = request.getfixturevalue("influx_db")
        site, section = SITE, influx_v1(srv, db)
    else:
        srv = request.getfixturevalue("victoria_metrics")
        site = request.getfixturevalue("vm_site")
        section = influx_v2(srv)
    down: Callable[[], None] = srv.stop if outage == "stop" else srv.pause
    up: Callable[[], None] = srv.start if outage == "stop" else srv.resume
    cfg = write_config(tmp_path, site=site, influx=section, extra=COUNTING)
    store = Store(tmp_path / "outbox.sqlite")
    stop = asyncio.Event()
    async with Oximeter(tmp_path) as ox, daemon_in_process(cfg) as daemon:
        sink = next(s for s in daemon.sinks if isinstance(s, InfluxSink))
        # Retry at most every 2 s (production: 30 s) so the test does not sit out a long
        # backoff after the server is back; what is delivered is the same either way.
        sink._backoff.cap_s = 2.0
        sent0, stored0 = await warm_up(ox, store, first_at=warm_start())
        feeder = asyncio.create_task(
            ox.stream(whole_second() - timedelta(seconds=STREAM_LAG_S), stop, period_s=0.25)
        )
        try:
            await eventually(lambda: sink.stats.points >= 10, 20, "first readings delivered")
            await in_thread(down)
            at_down, failed0, timeouts0 = store.readings(), sink.stats.retries, sink.stats.timeouts

            def outage_shown() -> bool:
                failed = sink.stats.retries - failed0
                # the frozen server was met (timed out), not skipped
                met = outage == "stop" or sink.stats.timeouts - timeouts0 >= FAILED_WRITES
                return failed >= FAILED_WRITES and met and store.readings() - at_down >= PILED_UP

            await eventually(outage_shown, 40, "writes failed, retried and failed again")
            at_up = store.readings()
            # the outage was real: readings kept coming, piled up, and writes failed
            assert at_up - at_down >= PILED_UP
            assert store.backlog() > 0
            assert sink.stats.retries - failed0 >= FAILED_WRITES
            await in_thread(up)
            await eventually(lambda: store.readings() >= at_up + 10, 20, "stream after restart")
        finally:
            stop.set()
            await feeder
        # every line fed after the warm-up is stored, then everything is delivered
        expected = stored0 + (ox.sent - sent0)
        try:
            await eventually(lambda: store.readings() == expected, 20, f"{expected} stored")
        except AssertionError as e:  # say which way it is off: lost lines, or a bad count
            raise AssertionError(f"{e}; {store.readings()} are") from None
        await eventually(lambda: store.backlog() == 0, 60, "influx backlog drained")
    produced = store.reading_stamps()
    assert len(produced) == len(set(produced)) == expected
    if api == "v1":
        assert isinstance(srv, Influxd)
        v1 = srv
        count, stamps = await in_thread(lambda: v1_stamps(v1, db))
        assert count == len(produced)
        assert sorted(stamps) == sorted(produced)  # each reading once, at its own time
    else:
        assert isinstance(srv, VictoriaMetrics)
        vm = srv
        match = f'{{__name__="vitals_valid",site="{site}"}}'
        assert await in_thread(lambda: vm.wait_samples(match, len(produced))) == len(produced)
        stamps = await in_thread(lambda: vm_stamps(vm, site))
        assert sorted(stamps) == sorted(t // 1_000_000 for t in produced)


async def test_sigkill_while_influx_down_every_committed_reading_arrives_after_restart(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, influx=influx_v1(influxd, influx_db), extra=COUNTING)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    stop = asyncio.Event()
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            await warm_up(ox, store, first_at=warm_start())
            feeder = asyncio.create_task(
                ox.stream(whole_second() - timedelta(seconds=STREAM_LAG_S), stop, period_s=0.25)
            )
            try:
                await eventually(
                    lambda: store.readings() - len(store.reading_stamps(pending_only=True)) >= 10,
                    20,
                    "first readings delivered",
                )
                await in_thread(influxd.stop)
                at_down = store.readings()
                await eventually(lambda: store.readings() >= at_down + 20, 20, "readings flow")
                assert daemon.alive
                await in_thread(daemon.kill)  # mid-stream, mid-outage, no goodbye
            finally:
                stop.set()
                await feeder
            committed = store.reading_stamps()
            pending = store.reading_stamps(pending_only=True)
            assert len(pending) >= 20  # the crash really left undelivered readings behind
            assert len(committed) == len(set(committed))

            await in_thread(influxd.start)
            daemon.start()  # same config, same store
            await eventually(lambda: store.backlog() == 0, 60, "backlog drained after restart")
            assert daemon.stop() == 0, daemon.output()
        finally:
            if daemon.alive:
                daemon.kill()
    count, stamps = await in_thread(lambda: v1_stamps(influxd, influx_db))
    missing = set(committed) - set(stamps)
    assert not missing, f"{len(missing)} committed readings never reached InfluxDB"
    # nothing twice: one point per stored reading (also those read after the restart)
    assert count == len(stamps) == len(set(stamps)) == store.readings()
    assert "Traceback" not in daemon.output()
