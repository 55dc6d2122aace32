"""A reading its device called valid and the artifact check rejected (a BP of 272/150, an
SpO2 of 45 %) is stored `valid` false with the flag `implausible` (docs/alerts.md): the
record names the check that failed ("systolic 272 outside 50-260"). Written to InfluxDB,
the flag was lost, and the record `--from influx` read the same BP as "cuff error" and
the SpO2 as "device marked invalid": a measured 272 systolic shown on the clinic's record
as a cuff that failed. A real chair, a real influxd (1.6, api v1), the daemon's own sink."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import monitord.chair as chair_mod
from monitord.chair import QueuedCommand
from monitord.config import InfluxConfig
from monitord.engine.inputs import SessionAction, SessionCmd
from monitord.hub import Hub
from monitord.models import Kind, Reading
from monitord.report import record_for, session_spans
from monitord.report.influxload import InfluxReader
from monitord.report.lists import gap_lines
from tests.kit import SetClock, make_chair
from tests.report.test_from_influx import drain_outbox
from tests.servers import Influxd

SITE = "kit"  # make_chair's [site] id
C0 = 1_800_000_000.0


def _reading(t: float, device: str, kind: Kind, valid: bool = True, **values: float) -> Reading:
    at = datetime.fromtimestamp(C0 + t, UTC)
    return Reading("chair-1", device, kind, values, at, at, valid=valid)


async def test_a_rejected_reading_keeps_its_reason_from_influx(
    influxd: Influxd, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SetClock(C0)
    chair = make_chair(tmp_path, Hub(), clock=clock)
    monkeypatch.setattr("monitord.chair.time.monotonic", lambda: clock.t - C0 + 1000.0)
    chair.history.link("cuff", True, -100.0)  # connected long ago: not a stored burst

    def at(t: float, *items: chair_mod.Item) -> None:
        clock.t = C0 + t
        chair.process(list(items))

    def cmd(t: float, action: SessionAction) -> None:
        at(t, QueuedCommand(SessionCmd(C0 + t, "chair-1", action, "esketamine", "s-rej")))

    cmd(0, "start")
    at(60, _reading(60, "cuff", Kind.BP, sys_mmHg=124.0, dia_mmHg=80.0))
    at(120, _reading(120, "cuff", Kind.BP, sys_mmHg=126.0, dia_mmHg=82.0))
    cmd(300, "dose_start")
    cmd(600, "dose_end")
    at(900, _reading(900, "cuff", Kind.BP, sys_mmHg=272.0, dia_mmHg=150.0))  # sys > 260
    at(960, _reading(960, "cuff", Kind.BP, valid=False, sys_mmHg=120.0, dia_mmHg=80.0))
    at(1000, _reading(1000, "ox", Kind.SPO2, spo2_pct=45.0))  # < 50
    at(1030, _reading(1030, "ox", Kind.SPO2, spo2_pct=96.0))
    at(1200, _reading(1200, "cuff", Kind.BP, sys_mmHg=130.0, dia_mmHg=84.0))
    cmd(1500, "end")
    ob = chair.store.outbox
    ob.commit()
    (span,) = session_spans(ob)
    local = record_for(ob, span)
    # The chair's set clock patched time.monotonic, the event loop's clock too: the
    # sink's waits need the real one back.
    monkeypatch.undo()
    await drain_outbox(ob, influxd, influx_db, SITE)

    reader = InfluxReader(InfluxConfig(url=influxd.url, api="v1", database=influx_db), SITE)
    (ispan,) = reader.spans()
    central = reader.record(ispan)

    rejected = [(v.device, v.reason) for v in local.vitals if not v.valid]
    assert rejected == [
        ("cuff", "systolic 272 outside 50-260"),
        ("cuff", "cuff error"),
        ("ox", "SpO2 45 outside 50-100"),
    ]
    assert [(v.device, v.reason) for v in central.vitals if not v.valid] == rejected
    assert any("systolic 272 outside 50-260" in ln for ln in gap_lines(central))
    assert gap_lines(central) == gap_lines(local)
