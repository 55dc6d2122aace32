"""A device-lost alarm that names no device (an alert without `value.device`, as from
another version) is hatched on both chart panels, but the SpO2 coverage did not count it
as an SpO2 hole: the oximeter's stretch after the loss also got a "no valid SpO2 ... no
device-lost or sensor-off alarm" line right under the device-lost line, and the last
sample was bridged into the loss (12.9 min covered, not 12.0)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import SessionRecord, chart, record_for, session_spans
from monitord.report.pdf import PDF_CHART
from monitord.report.text import form_lines

from .storeplay import play_into_store
from .test_chart_sensor_off import _hatched
from .test_spo2_coverage import DOSE, _scenario


def test_a_device_lost_naming_no_device_is_an_spo2_hole(tmp_path: Path) -> None:
    rec = _unnamed_record(tmp_path, _scenario(DOSE + 12 * 60, DOSE + 130 * 60))
    lost = [g for g in rec.gaps if g.what == "device_lost"]
    assert len(lost) == 1 and lost[0].device is None, lost
    quiet = [g for g in rec.gaps if g.what == "no_spo2"]
    assert not quiet, f"{quiet}: the stretch is the device-lost gap's, no unexplained one"
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    assert "valid SpO2 for 12.0 of the 130.0 min" in line, line


def _unnamed_record(tmp_path: Path, text: str) -> SessionRecord:
    """The scenario played into a store, its device-lost alarms stripped of their device."""
    scen = tmp_path / "s.jsonl"
    scen.write_text(text)
    db = tmp_path / "o.sqlite"
    play_into_store(scen, db)
    with sqlite3.connect(db) as c:
        n = c.execute(
            "UPDATE records SET body = json_remove(body, '$.value.device') WHERE type = 'alert'"
            " AND json_extract(body, '$.rule') = 'tech.device_lost'"
        ).rowcount
    assert n >= 1, "the scenario must raise a device-lost alarm"
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span)


def _cuff_lost(spo2: Callable[[int], bool]) -> str:
    """An esketamine session of 130 min after the dose; the BP cuff's link down from 20 to
    40 min after the dose; an SpO2 sample every 5 s whenever `spo2(t)` (t from the dose)."""
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-cuff"},
        {"t": 60, "event": "bp", "sys": 124, "dia": 78},
        {"t": DOSE, "event": "dose_start"},
        {"t": DOSE + 20 * 60, "event": "device_lost", "device": "bp"},
        {"t": DOSE + 40 * 60, "event": "device_back", "device": "bp"},
        {"t": DOSE + 130 * 60, "event": "session_end"},
        {"t": DOSE + 130 * 60 + 10, "event": "end"},
    ]
    lines += [
        {"t": t, "event": "spo2", "spo2": 97}
        for t in range(DOSE, DOSE + 130 * 60 + 1, 5)
        if spo2(t - DOSE)
    ]
    return "".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["t"]))  # type: ignore[arg-type,return-value]


def test_an_unnamed_loss_while_spo2_came_is_no_spo2_hole(tmp_path: Path) -> None:
    # The lost device was the BP cuff: the oximeter sent throughout. Counted as an SpO2
    # hole, the form read "valid SpO2 for 110.0 of the 130.0 min ... NOT CONTINUOUS".
    rec = _unnamed_record(tmp_path, _cuff_lost(lambda t: True))
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    assert "valid SpO2 for 130.0 of the 130.0 min" in line.value, line.value
    assert not line.missing, line.value


def test_an_unnamed_loss_does_not_hide_spo2_missing_in_part_of_it(tmp_path: Path) -> None:
    # The oximeter sent nothing from 25 to 35 min after the dose (no alarm for it), inside
    # the cuff's unnamed loss, and SpO2 came on either side within it: the loss was not
    # the oximeter's, and the 10 min without SpO2 are a "no valid SpO2" line.
    rec = _unnamed_record(tmp_path, _cuff_lost(lambda t: not 25 * 60 <= t < 35 * 60))
    quiet = [g for g in rec.gaps if g.what == "no_spo2"]
    assert len(quiet) == 1, rec.gaps
    assert quiet[0].start is not None and quiet[0].end is not None
    # The last sample before (24 min 55 s) stands for the 60 s a silence is bridged.
    assert quiet[0].end - quiet[0].start == 10 * 60 - 55, quiet


def test_an_unnamed_loss_while_spo2_came_is_not_hatched_on_the_spo2_panel(
    tmp_path: Path,
) -> None:
    # Hatched "device lost" on the SpO2 panel, under the SpO2 line drawn through it.
    rec = _unnamed_record(tmp_path, _cuff_lost(lambda t: True))
    fig = Figure()
    chart.draw(fig, rec, *PDF_CHART)
    ax_bp, ax_spo2 = fig.axes
    assert [(a, b) for a, b, _ in _hatched(ax_bp)] == [(20.0, 40.0)]
    assert _hatched(ax_spo2) == [], _hatched(ax_spo2)


def test_a_stored_spo2_record_inside_an_unnamed_loss_fills_no_hole(tmp_path: Path) -> None:
    # clinical-rules.md: a record a device pushes from its memory is history, "stored,
    # marked `stored`, shown in reports, and fed to no rule"; it is not SpO2 that came.
    # The oximeter lost 12 min after the dose (its alarm naming no device), and a spot-
    # check from a device's memory placed (at its measured time) inside the loss: the
    # coverage and the SpO2 panel's hatch are those without it. Before this test, taking
    # stored records for live samples in the record's or the chart's unnamed-loss check
    # went unnoticed (the loss no SpO2 hole: 130 min "covered").
    plain = _scenario(DOSE + 12 * 60, DOSE + 130 * 60)
    stored = {"t": DOSE + 60 * 60, "event": "spo2", "spo2": 88, "stored": True}
    lines = sorted(
        [json.loads(x) for x in plain.splitlines()] + [stored],
        key=lambda x: float(x["t"]),
    )
    rec = _unnamed_record(tmp_path, "".join(json.dumps(x) + "\n" for x in lines))
    assert [v.values.get("spo2_pct") for v in rec.stored] == [88]
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    assert "valid SpO2 for 12.0 of the 130.0 min" in line, line
    (tmp_path / "plain").mkdir()
    without = _unnamed_record(tmp_path / "plain", plain)

    def spo2_hatch(r: SessionRecord) -> list[tuple[float, float, str]]:
        fig = Figure()
        chart.draw(fig, r, *PDF_CHART)
        return _hatched(fig.axes[1])

    assert spo2_hatch(rec) == spo2_hatch(without) != []
