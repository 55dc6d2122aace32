"""What `monitord status` and the journal say when InfluxDB's idle probe (`GET /ping`,
sinks/influx.py `_probe`) gets no answer: the probe's own words, not a write's.

Before: a probe that failed was told as a failed write. A frozen server read in status
"no answer within 0.5 s (the server is slow or frozen; the batch may have landed and is
retried as is)" although no batch was sent (nothing was waiting: that is why it probed),
and the journal's WARNING ended "backlog 0 rows, retrying in 0.1 s" although the next
probe comes PROBE_IDLE_S later (or with the next write). An IT admin reading either
looked for a batch and a retry that did not exist. Now status says it was the probe
(`GET /ping: no answer within 0.5 s (the server is slow or frozen)`) and the journal
when it asks again. A real influxd 1.x, frozen with SIGSTOP (the kernel still accepts
the connection; nothing answers).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers import influx_sink_on

from monitord.config import InfluxConfig
from monitord.sinks import influx
from tests.kit import eventually
from tests.servers import Influxd


async def test_a_probe_without_answer_is_told_as_a_probe(
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="monitord.sinks.influx")
    monkeypatch.setattr(influx, "PROBE_IDLE_S", 0.5)
    cfg = InfluxConfig(
        url=influxd.url, api="v1", database=influx_db, flush_interval_s=0.05, timeout_s=0.5
    )
    async with influx_sink_on(cfg, tmp_path, backoff_base_s=0.1) as (sink, outbox):
        try:
            await eventually(lambda: outbox.backlog("influx") == 0, 20, "the readings written")
            influxd.pause()  # frozen: nothing more to send, so the next thing is the probe
            await eventually(lambda: sink.link.state == "down", 20, "status: InfluxDB down")
            error = str(sink.link.as_dict()["last_error"])
            assert error == "GET /ping: no answer within 0.5 s (the server is slow or frozen)"
            lines = [r.getMessage() for r in caplog.records if "no answer" in r.getMessage()]
            assert len(lines) == 1, lines
            assert "batch" not in lines[0] and "retrying in" not in lines[0], lines[0]
            assert lines[0].endswith("asked again in 0.5 s, or at the next write"), lines[0]
        finally:
            influxd.resume()
