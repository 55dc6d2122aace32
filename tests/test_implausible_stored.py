"""clinical-rules.md "Valid readings": "Invalid readings are stored with `valid=false`,
raise `tech.bp_invalid`, and are skipped by every physiological rule"; HR and SpO2 out of
their ranges likewise. An audit found an implausible reading that its device called
valid (a BP of 270/100) stored, published and written to InfluxDB with `valid: true`:
only the engine knew. Now the chair stores the judged reading (`valid` false, flag
`implausible`) and the engine and the REMS form still name the check's reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitord.engine.validity import IMPLAUSIBLE, device_valid
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading
from monitord.report.record import _invalid_reason
from monitord.sinks.influx_rows import row_line
from monitord.store.codec import StoredReading
from tests.kit import make_chair


def reading(device: str, kind: Kind, valid: bool = True, **values: float) -> Reading:
    now = datetime.now(UTC)
    return Reading("chair-1", device, kind, values, now, now, valid=valid)


def test_an_implausible_reading_is_stored_and_shown_not_valid(tmp_path: Path) -> None:
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    chair = make_chair(tmp_path, hub)
    chair.history.link("cuff", True, -100.0)  # connected long ago: not a stored burst
    chair.process(
        [
            reading("cuff", Kind.BP, sys_mmHg=270.0, dia_mmHg=100.0),  # sys > 260
            reading("cuff", Kind.BP, valid=False, sys_mmHg=120.0, dia_mmHg=80.0),  # cuff error
            reading("strap", Kind.HR, hr_bpm=300.0),  # > 250
            reading("ox", Kind.SPO2, spo2_pct=97.0),  # fine
        ]
    )
    # The engine judged the BP on the device's verdict and names the check's reason.
    (ev,) = [e for b in batches for e in b.events if e.rule == "tech.bp_invalid"]
    assert "systolic 270 outside 50-260" in ev.message

    shown = [r.to_json() for b in batches for r in b.readings]  # vitals/{kind} on MQTT
    assert [(r["device"], r["valid"], r["quality"]) for r in shown] == [
        ("cuff", False, [IMPLAUSIBLE]),
        ("cuff", False, []),
        ("strap", False, [IMPLAUSIBLE]),
        ("ox", True, []),
    ]
    outbox = chair.store.outbox
    rows = [r for r in outbox.fetch("influx", 10) if isinstance(r, StoredReading)]
    lines = [row_line(r, "kit") for r in rows]
    assert [("valid=false" in ln, "valid=true" in ln) for ln in lines] == [
        (True, False),
        (True, False),
        (True, False),
        (False, True),
    ]
    stored = [r.reading() for r in rows]
    assert [s.valid for s in stored] == [False, False, False, True]
    # What the device said is still there, and the form names the same reason.
    assert [device_valid(s) for s in stored] == [True, False, True, True]
    assert _invalid_reason(stored[0]) == "systolic 270 outside 50-260"
    assert _invalid_reason(stored[1]) == "cuff error"
    assert _invalid_reason(stored[2]) == "HR 300 outside 20-250"
