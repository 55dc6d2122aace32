"""The times monitord itself was not running during a session (monitord/store/outages.py)
are gaps of its report: before, the gap list came from alert episodes and verdicts only,
so a 20-minute daemon outage read as continuous monitoring (a false record)."""

from __future__ import annotations

from monitord.report import build_record
from monitord.report.gaps import Gap, alert_gaps
from monitord.report.lists import gap_lines
from monitord.report.render import render_html
from monitord.report.text import form_lines
from monitord.store.outages import Outage

from .test_build_record import CHAIR, T0, bp, sess

DS = T0 + 600  # dose start of FULL
FULL = sess((0, "start"), (600, "dose_start"), (900, "dose_end"), (8000, "end"))


def _gaps(outages: list[Outage], end: float | None = T0 + 8000) -> tuple[Gap, ...]:
    return alert_gaps({}, {}, [], True, DS, False, (2100.0, 3000.0), end, T0, outages)


def test_outages_in_the_session_are_gaps_clipped_to_it() -> None:
    inside = Outage(T0 + 1000, T0 + 2140, False, "s1")
    clean = Outage(T0 + 5000, T0 + 5004.5, True, "s1")
    before = Outage(T0 - 500, T0 - 100, False, "s0")  # an earlier session's
    across_end = Outage(T0 + 7900, T0 + 9000, False, "s1")
    gaps = _gaps([across_end, clean, before, inside])
    down = [(g.start, g.end, g.detail) for g in gaps if g.what == "daemon_down"]
    assert down == [
        (
            T0 + 1000,
            T0 + 2140,
            "monitord not running (no clean stop recorded; a crash, kill or power loss): "
            "no monitoring and no alarms for 19 min 00 s",
        ),
        (
            T0 + 5000,
            T0 + 5004.5,
            "monitord stopped (clean stop): no monitoring and no alarms for 5 s",
        ),
        (T0 + 7900, T0 + 8000, down[2][2]),
    ]
    # A session not ended: an outage after its start counts to its own end.
    (g,) = [g for g in _gaps([across_end], end=None) if g.what == "daemon_down"]
    assert (g.start, g.end) == (T0 + 7900, T0 + 9000)
    assert not [g for g in _gaps([before]) if g.what == "daemon_down"]


def test_the_record_says_monitoring_was_not_continuous() -> None:
    readings = [bp(60, 120, 80), bp(120, 122, 80)]
    readings += [bp(600 + m * 60, 121, 79) for m in range(40, 121, 10)]
    outage = Outage(DS + 60 * 60 + 30, DS + 80 * 60 + 30, False, "s1")
    plain = build_record(readings, [], FULL, "UTC")
    rec = build_record(readings, [], FULL, "UTC", outages=[outage])

    (line,) = [x for x in gap_lines(rec) if "daemon_down" in x]
    assert line == (
        "monitord not running (no clean stop recorded; a crash, kill or power loss): "
        "no monitoring from 10:10:30 to 10:30:30 (20 min 00 s), no alarms (daemon_down)"
    )
    assert not [x for x in gap_lines(plain) if "daemon_down" in x]
    form = {f.key: f for f in form_lines(rec)}
    mon = form["monitoring_time"]
    assert mon.missing and "NOT CONTINUOUS: monitord was not running 1 time" in mon.value
    assert "20 min 00 s in all" in mon.value
    # Criteria met from 50 min (2 post-dose BP); across the outage they are unknown: they
    # count from its end, not "without a break" from 50 min.
    assert plain.readiness.met_t == DS + 50 * 60
    assert rec.readiness.met_t == outage.end
    assert "monitord was not running during the session" in form["could_leave"].value
    html = render_html(rec)
    assert "no monitoring from 10:10:30 to 10:30:30" in html
    assert rec.chair == CHAIR


def test_an_outage_of_unknown_length_is_a_gap_and_no_verdict() -> None:
    """A Pi without RTC restarted after a power cut with its wall clock behind the last
    record: the chair clock goes on from its last sign of life, so the time down is not
    in the timestamps (monitord/clock.py). Before, that outage was stored 0 s long and
    dropped: the record read as continuous, and a session that was long enough in real
    time could read SHORT (or one cut mid-window, met)."""
    readings = [bp(60, 120, 80), bp(120, 122, 80)]
    readings += [bp(600 + m * 60, 121, 79) for m in range(40, 121, 10)]
    at = DS + 70 * 60
    cut = Outage(at, at, False, "s1", known=False)
    for acts in (FULL, sess((0, "start"), (600, "dose_start"), (900, "dose_end"), (6000, "end"))):
        rec = build_record(readings, [], acts, "UTC", outages=[cut])
        (line,) = [x for x in gap_lines(rec) if "daemon_down" in x]
        assert line.startswith(
            "monitord not running (no clean stop recorded; a crash, kill or power loss): "
            "no monitoring from 10:20:00 for an unknown time (at the restart the system "
            "clock was behind the last record"
        ), line
        form = {f.key: f for f in form_lines(rec)}
        assert "1 time for an unknown time" in form["monitoring_time"].value
        # Met (8000 s) or SHORT (6000 s) on the record's clock: neither is known.
        assert rec.observation.verdict == "not_judged", rec.observation
        assert rec.readiness.met_t is None or rec.readiness.met_t >= at
    # An unknown outage outside the session is not its gap.
    early = Outage(T0 - 100, T0 - 100, False, "s0", known=False)
    assert not [g for g in _gaps([early]) if g.what == "daemon_down"]
