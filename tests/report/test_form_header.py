"""The form's header fields as docs/report.md's table gives them, on a store the real
engine wrote (storeplay.py), read back as `monitord report` reads it:

- *Treatment date*: "local date of administration (`dose_start`), else of session start".
  A session started at 23:50 EDT whose dose came at 00:05 is treated on the next day;
  the session start then carries its date (docs/report.md "Times": a time on another
  local day than the treatment date carries it). Without a dose, the start's date.
- *Dose, lot, given by*: "`dose_mg`, `lot` and `by` of `dose_start` when the station
  sent them; "not recorded" otherwise", each of the three.
- *Completion of monitoring*: "`session_end` (and who ended it)".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import SessionRecord, record_for, session_spans

from .reportkit import form
from .storeplay import play_into_store

TZ = "America/New_York"
T0 = 1715053800.0  # 2024-05-07T03:50:00Z = 2024-05-06 23:50 EDT


def _record(
    tmp_path: Path,
    events: list[dict[str, Any]],
    fields: Mapping[str, Mapping[str, Any]] | None = None,
) -> SessionRecord:
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    scen.write_text("".join(json.dumps(e) + "\n" for e in events))
    play_into_store(scen, db, t0=T0, session_fields=fields)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span, TZ)


def test_the_treatment_date_is_the_doses_local_day_and_the_start_carries_its_own(
    tmp_path: Path,
) -> None:
    rec = _record(
        tmp_path,
        [
            {"t": 0, "event": "session_start", "protocol": "esketamine"},
            {"t": 60, "event": "bp", "sys": 128, "dia": 80},
            {"t": 900, "event": "dose_start"},  # 00:05 EDT on 05-07
            {"t": 1200, "event": "dose_end"},
            {"t": 900 + 7500, "event": "session_end"},
            {"t": 900 + 7500, "event": "end"},
        ],
        {
            "dose_start": {"by": "nurse-a", "dose_mg": 56.0, "lot": "LOT-9"},
            "end": {"by": "nurse-b"},
        },
    )
    f = form(rec)
    assert f["treatment_date"] == "2024-05-07 (EDT, America/New_York)"
    assert f["session_start"] == "05-06 23:50:00"
    assert f["dose_start"] == "00:05:00"
    assert f["dose"] == "56 mg, lot LOT-9, given by nurse-a"
    assert f["session_end"] == "02:10:00 by nurse-b"


def test_without_a_dose_the_treatment_date_is_the_starts_local_day(tmp_path: Path) -> None:
    rec = _record(
        tmp_path,
        [
            {"t": 0, "event": "session_start", "protocol": "esketamine"},
            {"t": 60, "event": "bp", "sys": 128, "dia": 80},
            {"t": 1800, "event": "session_end"},  # 00:20 EDT on 05-07
            {"t": 1800, "event": "end"},
        ],
    )
    f = form(rec)
    assert f["treatment_date"] == "2024-05-06 (EDT, America/New_York)"
    assert f["session_start"] == "23:50:00"
    assert f["session_end"] == "05-07 00:20:00"


def test_a_dose_the_station_sent_nothing_with_says_each_was_not_recorded(
    tmp_path: Path,
) -> None:
    """Before, a dose_start without `by` read "dose not recorded, lot not recorded": the
    nurse who gave it was left out without a word, where the doc promises "not recorded"
    for each of the three (the reviewer fills it in by hand)."""
    rec = _record(
        tmp_path,
        [
            {"t": 0, "event": "session_start", "protocol": "esketamine"},
            {"t": 60, "event": "bp", "sys": 128, "dia": 80},
            {"t": 900, "event": "dose_start"},
            {"t": 900 + 7500, "event": "session_end"},
            {"t": 900 + 7500, "event": "end"},
        ],
    )
    f = form(rec)
    assert f["dose"] == "dose not recorded, lot not recorded, given by not recorded"
    assert f["session_end"] == "02:10:00"  # nobody named: nothing after the time
