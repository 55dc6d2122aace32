"""A session across a daylight-saving change: the page names one zone abbreviation (the
treatment's, "Times are local (EDT, ...)"), so a time after the change read in the wrong
zone: 01:45 EST shown bare under EDT, an hour off, and a session from 01:30 EDT to 01:45
EST read as 15 minutes of monitoring instead of 75."""

from __future__ import annotations

from datetime import UTC, datetime

from monitord.models import SessionEvent
from monitord.report import build_record
from monitord.report.text import fmt_t, form_lines

TZ = "America/New_York"
# 2024-11-03: clocks go back from 02:00 EDT to 01:00 EST (06:00 UTC).
START = datetime(2024, 11, 3, 5, 30, tzinfo=UTC).timestamp()  # 01:30 EDT


def _sess(*acts: tuple[float, str]) -> list[SessionEvent]:
    return [SessionEvent(START + t, "chair-1", a, "esketamine", "s-dst") for t, a in acts]


def test_a_time_in_another_zone_abbreviation_than_the_treatments_names_it() -> None:
    rec = build_record(
        [], [], _sess((0, "start"), (300, "dose_start"), (4500, "end")), TZ
    )  # end 06:45 UTC = 01:45 EST
    f = {x.key: x.value for x in form_lines(rec)}
    assert f["treatment_date"] == "2024-11-03 (EDT, America/New_York)"
    assert f["session_start"] == "01:30:00"
    assert f["session_end"] == "01:45:00 EST"
    assert fmt_t(rec, START + 300) == "01:35:00"
    assert f["monitoring_time"].startswith("1 h 10 min (70.0 min; dose start 01:35:00 to ")
    # (70 min: short of the 2-hour minimum, which the field now says after it.)
    assert "session end 01:45:00 EST); SHORT of the protocol minimum" in f["monitoring_time"]
