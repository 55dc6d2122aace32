"""`monitord status` does not keep InfluxDB "connected" after the server stopped while
nothing was sent (an idle clinic: no readings, so no write fails and nothing noticed).

Before: the sink's link state changed only at a write, so status said "connected since
..." for as long as nothing was sent, whatever became of the server. Now a sink with
nothing to send for PROBE_IDLE_S asks the server (`GET /ping`): a server gone reads DOWN
with the reason, one back reads connected again. The real servers, really stopped
(influxd 1.6 for api v1, victoria-metrics for api v2); PROBE_IDLE_S shortened from its
minute so the test does not wait one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import influx_sink_on

from monitord.config import InfluxConfig
from monitord.sinks import influx
from tests.kit import eventually
from tests.servers import Influxd, VictoriaMetrics


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_an_idle_sink_sees_the_server_go_and_come_back(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setattr(influx, "PROBE_IDLE_S", 0.5, raising=False)
    server: Influxd | VictoriaMetrics
    if api == "v1":
        server = request.getfixturevalue("influxd")
        db = request.getfixturevalue("influx_db")
        cfg = InfluxConfig(
            url=server.url, api="v1", database=db, flush_interval_s=0.05, timeout_s=1.0
        )
    else:
        server = request.getfixturevalue("victoria_metrics")
        cfg = InfluxConfig(
            url=server.url,
            api="v2",
            org="clinic",
            bucket="monitord",
            flush_interval_s=0.05,
            timeout_s=1.0,
        )
    try:
        async with influx_sink_on(cfg, tmp_path) as (sink, outbox):
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "the readings written")
            assert sink.link.state == "connected"
            await asyncio.to_thread(server.stop)  # nothing more is sent from here on
            await eventually(lambda: sink.link.state == "down", 20, "status: InfluxDB down")
            assert "is InfluxDB running" in str(sink.link.as_dict()["last_error"])
            await asyncio.to_thread(server.start)
            await eventually(lambda: sink.link.state == "connected", 30, "status: InfluxDB back")
            assert outbox.backlog("influx") == 0  # the probe wrote nothing
    finally:
        server.ensure_running()
