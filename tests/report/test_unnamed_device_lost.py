"""A device-lost alarm that names no device (an alert without `value.device`, as from
another version) is hatched on both chart panels, but the SpO2 coverage did not count it
as an SpO2 hole: the oximeter's stretch after the loss also got a "no valid SpO2 ... no
device-lost or sensor-off alarm" line right under the device-lost line, and the last
sample was bridged into the loss (12.9 min covered, not 12.0)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.report.text import form_lines

from .storeplay import play_into_store
from .test_spo2_coverage import DOSE, _scenario


def test_a_device_lost_naming_no_device_is_an_spo2_hole(tmp_path: Path) -> None:
    scen = tmp_path / "s.jsonl"
    scen.write_text(_scenario(DOSE + 12 * 60, DOSE + 130 * 60))
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
        rec = record_for(ob, span)
    lost = [g for g in rec.gaps if g.what == "device_lost"]
    assert len(lost) == 1 and lost[0].device is None, lost
    quiet = [g for g in rec.gaps if g.what == "no_spo2"]
    assert not quiet, f"{quiet}: the stretch is the device-lost gap's, no unexplained one"
    (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
    assert "valid SpO2 for 12.0 of the 130.0 min" in line, line
