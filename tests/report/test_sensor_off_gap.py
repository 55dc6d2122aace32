"""A sensor-off gap starts when the sensor came off, not at the alarm: clinical-rules.md
`tech.sensor_off` "HR contact lost / SpO2 probe off for 15 s", so the alarm is raised
`after_s` (15 s) after the first probe-off sample, and carries that `after_s` in its value
as `tech.device_lost` does. The gap list put the hole's start at the alarm's time, 15 s
after the first probe-off sample the vitals CSV marks invalid, in the HTML, the PDF and
the events CSV alike (a device-lost gap was already dated from its link going down); the
alarm's own time stays in the alarm audit and the event list."""

from __future__ import annotations

import json
from pathlib import Path

from monitord.report import SessionRecord
from monitord.report.lists import event_line, gap_lines
from monitord.report.render import events_rows, render_html, vitals_rows

from .reportkit import play_record
from .storeplay import T0


def _scenario() -> str:
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-so"},
        {"t": 60, "event": "bp", "sys": 124, "dia": 78},
        {"t": 120, "event": "bp", "sys": 126, "dia": 80},
        {"t": 600, "event": "dose_start"},
        {"t": 900, "event": "dose_end"},
    ]
    # SpO2 every 5 s from 1000 s to 1295 s; the probe is off from 1100 s (09:18:20) up to
    # 1200 s (09:20:00), when a sample with the probe on comes again.
    for t in range(1000, 1300, 5):
        off = 1100 <= t < 1200
        lines.append({"t": t, "event": "spo2", "spo2": 97, **({"probe_off": True} if off else {})})
    lines.append({"t": 1300, "event": "session_end"})
    return "".join(json.dumps(x) + "\n" for x in lines)


def _rec(tmp_path: Path) -> SessionRecord:
    return play_record(tmp_path / "so", _scenario())


def test_sensor_off_gap_starts_at_the_first_probe_off_sample(tmp_path: Path) -> None:
    rec = _rec(tmp_path)
    # The record's own readings: the first probe-off sample, marked invalid, at 1100 s.
    first_off = min(v.t for v in rec.vitals if v.kind == "spo2" and not v.valid)
    assert first_off - T0 == 1100.0
    # The alarm keeps its own time: 15 s later, in the audit and the event list.
    (ep,) = [e for e in rec.episodes if e.rule == "tech.sensor_off"]
    assert ep.raised_t - T0 == 1115.0
    events = [event_line(rec, i) for i in range(len(rec.alerts))]
    assert [x[:8] for x in events if "tech.sensor_off raised" in x] == ["09:18:35"]

    so = [
        (g.start and g.start - T0, g.end and g.end - T0) for g in rec.gaps if g.what == "sensor_off"
    ]
    assert so == [(1100.0, 1200.0)], (
        f"sensor-off gap {so}: it must start at the first probe-off sample (1100 s)"
    )
    (line,) = [x for x in gap_lines(rec) if "sensor_off" in x]
    assert line.startswith("09:18:20-09:20:00 sensor_off: "), line
    assert line in render_html(rec)
    (row,) = [r for r in events_rows(rec) if r["source"] == "gap" and r["name"] == "sensor_off"]
    assert (row["time_utc"], row["event"]) == ("2024-05-06T09:18:20Z", "2024-05-06T09:20:00Z")
    # The vitals CSV shows the same instant as the first invalid SpO2 row.
    invalid = [r["time_utc"] for r in vitals_rows(rec) if r["valid"] == "false"]
    assert invalid[0] == row["time_utc"]
