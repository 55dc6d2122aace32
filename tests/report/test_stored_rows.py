"""Stored records (a device's memory pushed on connect: history, fed to no alarm) next to
live readings of the same instant.

- The vitals CSV merged a stored record into the row of a live reading of the same
  instant when the live one carried a device time too: one row, `stored` false (the
  first one's flag), so a stored BP read as a live reading.
- The stored records' list gave the device's time in UTC ("...Z") on a page whose every
  other time is local in the zone the page names once.
"""

from __future__ import annotations

from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.report import SessionRecord, build_record
from monitord.report.lists import stored_lines
from monitord.report.render import render_html, vitals_rows

T0 = 1714986000.0  # 2024-05-06 09:00:00 UTC, 05:00:00 EDT
CHAIR = "chair-3"
AT = T0 + 3000  # 09:50:00 UTC, 05:50:00 EDT
SESSION = [
    SessionEvent(T0 + t, CHAIR, a, "esketamine", "s-stored")
    for t, a in ((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))
]


def _record() -> SessionRecord:
    # A live HR whose device sends its own clock, and a BP from the cuff's memory taken at
    # that same instant, pushed when the cuff connected 10 min later.
    live = Reading(CHAIR, "ecg", Kind.HR, {"hr_bpm": 70.0}, utc(AT), utc(AT), device_time=utc(AT))
    stored = Reading(
        CHAIR,
        "cuff",
        Kind.BP,
        {"sys_mmHg": 150.0, "dia_mmHg": 95.0},
        utc(AT),
        utc(AT + 600),
        device_time=utc(AT),
        stored=True,
    )
    return build_record([live, stored], [], SESSION, tz="America/New_York")


def test_a_stored_record_keeps_its_own_row_marked_stored() -> None:
    rows = [r for r in vitals_rows(_record()) if r["time_utc"] == "2024-05-06T09:50:00Z"]
    got = sorted((r["device"], r["stored"], r["sys_mmHg"], r["hr_bpm"]) for r in rows)
    assert got == [("cuff", "true", "150", ""), ("ecg", "false", "", "70")], (
        f"vitals CSV rows at 09:50:00Z {got}: the stored BP must have its own row, stored true"
    )


def test_stored_device_time_is_local_like_every_other_time() -> None:
    rec = _record()
    (line,) = stored_lines(rec)
    assert line == "05:50:00 bp/cuff sys_mmHg=150 dia_mmHg=95 (device time 05:50:00)", (
        f"stored record line {line!r}: the device time must be local (EDT), as the page"
    )
    assert "Z)" not in render_html(rec)


def test_a_device_time_in_another_year_carries_the_year() -> None:
    # A cuff whose clock is a year behind (or a record from last year's memory): the
    # stored list gave "device time 05-07 05:50:00" on a page dated 2024-05-06, the day
    # after the treatment to the reader (a time on another day carried month-day only).
    year = 365 * 86400.0
    old = Reading(
        CHAIR,
        "cuff",
        Kind.BP,
        {"sys_mmHg": 150.0, "dia_mmHg": 95.0},
        utc(AT),
        utc(AT + 600),
        device_time=utc(AT - year),
        stored=True,
    )
    rec = build_record([old], [], SESSION, tz="America/New_York")
    (line,) = stored_lines(rec)
    assert line.endswith("(device time 2023-05-07 05:50:00)"), (
        f"stored record line {line!r}: a device time in another year must name the year"
    )
