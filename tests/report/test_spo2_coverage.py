"""The SpO2 line says how much of the monitored time had valid SpO2: an oximeter lost 12
min after the dose for the rest of a 130-minute session read "minimum 97 %; 0.0 min below
90 % (144 valid samples)", as if SpO2 had been fine throughout (only the gaps list showed
the loss). The HR and BP have no such summary line on the form (the evidence gives each
value's age; the BP fields are single readings with their times)."""

from __future__ import annotations

import json
from pathlib import Path

from monitord.models import Kind, Reading, SessionEvent, utc
from monitord.report import build_record
from monitord.report.lists import gap_lines
from monitord.report.render import render_html
from monitord.report.text import form_lines

from .reportkit import play_record

DOSE = 600


def _scenario(spo2_until: int, end: int, dip: bool = False, off: range = range(0)) -> str:
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-ox"},
        {"t": 60, "event": "bp", "sys": 124, "dia": 78},
        {"t": DOSE, "event": "dose_start"},
        {"t": 900, "event": "dose_end"},
    ]
    for t in range(DOSE, spo2_until, 5):
        # With `dip`, one sample of 89 % followed 2 s later by 97 %: 2 s below 90 %.
        low = dip and t == DOSE + 300
        probe = {"probe_off": True} if t in off else {}
        lines.append({"t": t, "event": "spo2", "spo2": 89 if low else 97, **probe})
        if low:
            lines.append({"t": t + 2, "event": "spo2", "spo2": 97})
    if spo2_until < end:
        lines.append({"t": spo2_until, "event": "device_lost", "device": "spo2"})
    lines += [{"t": end, "event": "session_end"}, {"t": end + 10, "event": "end"}]
    return "".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["t"]))  # type: ignore[arg-type,return-value]


def test_an_oximeter_lost_for_most_of_the_session_is_no_full_spo2_line(tmp_path: Path) -> None:
    # Valid SpO2 from the dose for 12 min, then the link lost to the end, 130 min after
    # the dose: 12.0 min covered (the last sample, 5 s before the link went down, stands
    # until then, not for the 60 s a silence is bridged).
    rec = play_record(tmp_path, _scenario(DOSE + 12 * 60, DOSE + 130 * 60))
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    want = "valid SpO2 for 12.0 of the 130.0 min from dose start to session end (9 %)"
    assert want in line.value, (
        f"SpO2 line {line.value!r}: it must say how much of the 130 monitored min had SpO2"
    )
    assert line.value.startswith("minimum 97 % at "), line.value
    assert "NOT CONTINUOUS" in line.value and line.missing, "a partial SpO2 line must be flagged"
    assert "NOT CONTINUOUS: valid SpO2 for 12.0 of the 130.0 min" in render_html(rec)


def test_an_oximeter_there_throughout_is_not_flagged(tmp_path: Path) -> None:
    rec = play_record(tmp_path, _scenario(DOSE + 130 * 60, DOSE + 130 * 60, dip=True))
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    # The 2-s dip below 90 % is not rounded away to "0.0 min".
    assert line.value.startswith("minimum 89 % at 09:15:00; 0.1 min below 90 %"), line.value
    want = "valid SpO2 for 130.0 of the 130.0 min from dose start to session end (100 %)"
    assert line.value.endswith(want), line.value
    assert not line.missing


def test_a_probe_off_stretch_is_not_counted_as_covered(tmp_path: Path) -> None:
    # The probe off for 40 s (its samples invalid): the valid sample before it stands until
    # the first probe-off sample, not for the 60 s a silence would be bridged.
    off = range(DOSE + 600, DOSE + 640)
    rec = play_record(tmp_path, _scenario(DOSE + 130 * 60, DOSE + 130 * 60, off=off))
    assert rec.spo2.span_s - rec.spo2.covered_s == 40.0
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    want = "valid SpO2 for 129.3 of the 130.0 min from dose start to session end (99 %)"
    assert line.value.endswith(want), line.value


def test_two_samples_of_one_instant_stand_for_it_once() -> None:
    # Two oximeters on the chair whose samples are placed at the same instants (the same
    # receive time): each instant's stretch was counted once per sample, so the coverage
    # read "valid SpO2 for 20.0 of the 10.0 min ... (200 %)", more than the span.
    t0 = 1714986000.0
    session = [
        SessionEvent(t0 + t, "chair-3", a, "esketamine", "s-two")
        for t, a in ((0, "start"), (60, "dose_start"), (660, "end"))
    ]
    samples = [
        Reading("chair-3", dev, Kind.SPO2, {"spo2_pct": 97.0}, utc(t0 + t), utc(t0 + t))
        for t in range(60, 660, 5)
        for dev in ("ox-a", "ox-b")
    ]
    rec = build_record(samples, [], session)
    assert rec.spo2.covered_s == rec.spo2.span_s == 600.0, rec.spo2
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    want = "valid SpO2 for 10.0 of the 10.0 min from dose start to session end (100 %)"
    assert line.value.endswith(want), f"SpO2 line {line.value!r}: coverage beyond the span"


def test_the_time_below_90_is_no_more_than_the_low_samples_stand_for() -> None:
    # A valid 85 % sample, then the probe off for 40 s (its samples invalid), then 97 %:
    # the coverage stops at the first probe-off sample, but the time below 90 % counted
    # the low until the next *valid* sample: "0.8 min below 90 %" for 5 s of data, more
    # than the low sample stood for, beside a line saying the figures speak for the
    # covered minutes only.
    t0 = 1714986000.0
    session = [
        SessionEvent(t0 + t, "chair-3", a, "esketamine", "s-low")
        for t, a in ((0, "start"), (60, "dose_start"), (660, "end"))
    ]
    readings = []
    for t in range(60, 660, 5):
        at = utc(t0 + t)
        off = 305 <= t < 345
        pct = 85.0 if t == 300 else 97.0
        readings.append(
            Reading(
                "chair-3", "ox", Kind.SPO2, {"spo2_pct": pct}, at, at,
                valid=not off, flags=("probe_off",) if off else (), contact=not off,
            )
        )  # fmt: skip
    rec = build_record(readings, [], session)
    assert rec.spo2.covered_s == 600.0 - 40.0, rec.spo2
    assert rec.spo2.below_s == 5.0, (
        f"time below 90 % {rec.spo2.below_s} s: the 85 % sample stood for 5 s, until the "
        "first probe-off sample"
    )
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    assert "; 0.1 min below 90 %" in line.value, line.value


def test_no_time_to_cover_is_not_full_coverage() -> None:
    # A session whose record ends at the dose instant (nothing after it), with an SpO2
    # sample at that instant: "valid SpO2 for 0.0 of the 0.0 min ... (100 %)" read as
    # monitored throughout.
    t0 = 1714986000.0
    session = [
        SessionEvent(t0 + t, "chair-3", a, "esketamine", "s-zero")
        for t, a in ((0, "start"), (60, "dose_start"))
    ]
    at = utc(t0 + 60)
    rec = build_record(
        [Reading("chair-3", "ox", Kind.SPO2, {"spo2_pct": 97.0}, at, at)], [], session
    )
    assert rec.spo2.span_s == 0.0 and rec.spo2.samples == 1, rec.spo2
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    assert line.value.endswith("(0 %)"), f"SpO2 line {line.value!r}: 0 of 0 min is no 100 %"


def test_a_stretch_without_spo2_and_without_an_alarm_is_in_the_gaps(tmp_path: Path) -> None:
    # The oximeter's first sample 5 min after the dose, and later 4 min with none while
    # the link stayed up (HR came throughout): no device-lost or sensor-off alarm, so the
    # gaps list the "NOT CONTINUOUS ... (see gaps)" line pointed to had nothing in it.
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-none"},
        {"t": 60, "event": "bp", "sys": 124, "dia": 78},
        {"t": DOSE, "event": "dose_start"},
        {"t": 900, "event": "dose_end"},
    ]
    lines += [{"t": t, "event": "hr", "hr": 72} for t in range(0, DOSE + 3600, 5)]
    quiet = range(DOSE + 30 * 60, DOSE + 35 * 60)
    lines += [
        {"t": t, "event": "spo2", "spo2": 97}
        for t in range(DOSE + 300, DOSE + 3600, 5)
        if t not in quiet
    ]
    lines += [{"t": DOSE + 3600, "event": "session_end"}, {"t": DOSE + 3610, "event": "end"}]
    text = "".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["t"]))  # type: ignore[arg-type,return-value]
    rec = play_record(tmp_path, text)
    assert not [g for g in rec.gaps if g.what in ("device_lost", "sensor_off")], rec.gaps
    (line,) = [f for f in form_lines(rec) if f.key == "spo2"]
    assert "NOT CONTINUOUS" in line.value and "(see gaps)" in line.value, line.value
    why = "no device-lost or sensor-off alarm, no outage recorded (no_spo2)"
    spo2 = [x for x in gap_lines(rec) if "SpO2" in x]
    assert spo2 == [
        "no valid SpO2 from 09:10:00 to 09:15:00 (5 min 00 s): " + why,
        # The last sample before the silence stands for a minute (as the coverage counts).
        "no valid SpO2 from 09:40:55 to 09:45:00 (4 min 05 s): " + why,
    ], f"gaps {gap_lines(rec)}: the SpO2 line says 'see gaps' for stretches none names"
    # Together with the coverage: the listed stretches are what it left out.
    spans = [(g.start, g.end) for g in rec.gaps if g.what == "no_spo2"]
    missing = sum(b - a for a, b in spans if a is not None and b is not None)
    assert missing == rec.spo2.span_s - rec.spo2.covered_s == 545.0, rec.spo2


def test_an_spo2_line_not_flagged_adds_no_gap(tmp_path: Path) -> None:
    # Under a minute without SpO2 (the line is not NOT CONTINUOUS): nothing to point to.
    rec = play_record(tmp_path, _scenario(DOSE + 130 * 60, DOSE + 130 * 60, dip=True))
    assert not [g for g in rec.gaps if g.what == "no_spo2"], rec.gaps


def _quiet_spo2(end: int, quiet: list[range]) -> str:
    """HR throughout, SpO2 every 5 s from the dose except in `quiet` (the link up, no
    SpO2: no alarm), session end at `end` (s)."""
    lines: list[dict[str, object]] = [
        {"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-q"},
        {"t": 60, "event": "bp", "sys": 124, "dia": 78},
        {"t": DOSE, "event": "dose_start"},
        {"t": 900, "event": "dose_end"},
    ]
    lines += [{"t": t, "event": "hr", "hr": 72} for t in range(0, end, 5)]
    lines += [
        {"t": t, "event": "spo2", "spo2": 97}
        for t in range(DOSE, end, 5)
        if not any(t in q for q in quiet)
    ]
    lines += [{"t": end, "event": "session_end"}, {"t": end + 10, "event": "end"}]
    return "".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["t"]))  # type: ignore[arg-type,return-value]


def test_a_met_line_counts_the_no_spo2_gaps_the_list_shows(tmp_path: Path) -> None:
    # Regression: the met line counted device-lost and sensor-off gaps only, so a
    # session whose SpO2 stopped twice with no alarm read "met: ..." with no gap inside
    # the minimum window, while the gaps list showed two there (SpO2 not watched).
    quiet = [range(DOSE + 30 * 60, DOSE + 35 * 60), range(DOSE + 60 * 60, DOSE + 70 * 60)]
    rec = play_record(tmp_path, _quiet_spo2(DOSE + 130 * 60, quiet))
    listed = [x for x in gap_lines(rec) if x.endswith("(no_spo2)")]
    assert len(listed) == 2, gap_lines(rec)
    assert not [g for g in rec.gaps if g.what in ("device_lost", "sensor_off")], rec.gaps
    assert rec.observation.verdict == "met" and rec.observation.spo2_gaps == 2
    (line,) = [f for f in form_lines(rec) if f.key == "observation"]
    # Not "device data gaps": the link was up and no alarm sounded.
    tail = "; 2 stretches without valid SpO2 (no alarm) inside the minimum window (see gaps)"
    assert line.value.endswith(tail), line


def test_spo2_in_bursts_is_one_gap_line_with_exact_totals() -> None:
    # Regression: SpO2 in bursts (a sample standing for a minute every few minutes) left
    # one no_spo2 line per silence (41 in test_local_audit's night), unreadable on the
    # printed form. Silences less than NO_SPO2_MERGE_S apart are one line now, with the
    # count, the total and the longest; those further apart keep their own line.
    from monitord.report.gaps import NO_SPO2_DETAIL, NO_SPO2_MERGE_S, no_spo2_gaps

    assert NO_SPO2_MERGE_S == 300.0  # the "5 min" of the words below
    t = 1000.0
    bursts = [(t + k * 600 + 120, t + (k + 1) * 600) for k in range(10)]  # 8 min each
    alone = (bursts[-1][1] + 900, bursts[-1][1] + 1200)  # 15 min after: its own line
    gaps = no_spo2_gaps([*bursts, alone])
    assert len(gaps) == 2, gaps
    run, single = gaps
    assert (run.start, run.end, run.stretches) == (bursts[0][0], bursts[-1][1], tuple(bursts))
    # The count and the total open the printed line (test_no_spo2_lines.py).
    assert (
        run.detail
        == f"each less than 5 min from the next (the longest 8 min 00 s): {NO_SPO2_DETAIL}"
    )
    assert (single.start, single.end, single.detail) == (*alone, NO_SPO2_DETAIL)
    # Exact: the stretches the lines stand for are every second the input had.
    missing = sum(b - a for g in gaps for a, b in g.stretches)
    assert missing == sum(b - a for a, b in [*bursts, alone]) == 10 * 480 + 300


def test_a_met_line_counts_each_stretch_of_a_merged_line_inside_the_window(
    tmp_path: Path,
) -> None:
    # Regression: a gaps line merging SpO2 silences (bursts) was counted once by the met
    # line, from its first stretch to its last: 10 silences, 5 inside the minimum
    # window, read "1 device data gap inside the minimum window" while the list said
    # "in 10 stretches"; and a link up sending no SpO2, with no alarm, was called a
    # device gap. The HR monitor lost for 2 min inside the window is one (alarmed).
    # 180 s without SpO2 every 240 s, from 100 to 140 min after the dose: a stretch of
    # 125 s each (the last sample stands 60 s), 115 s apart; 5 start before `win`.
    quiet = [range(DOSE + 6000 + 240 * k, DOSE + 6180 + 240 * k) for k in range(10)]
    text = _quiet_spo2(DOSE + 150 * 60, quiet)
    lost = DOSE + 30 * 60
    lines = [json.loads(x) for x in text.splitlines()]
    lines = [x for x in lines if not (x["event"] == "hr" and lost <= x["t"] < lost + 120)]
    lines += [
        {"t": lost, "event": "device_lost", "device": "hr"},
        {"t": lost + 120, "event": "device_back", "device": "hr"},
    ]
    lines.sort(key=lambda x: x["t"])
    rec = play_record(tmp_path, "".join(json.dumps(x) + "\n" for x in lines))
    assert rec.dose_start_t is not None
    win = rec.dose_start_t + 120 * 60  # the esketamine minimum window's end
    (burst,) = [g for g in rec.gaps if g.what == "no_spo2"]
    assert len(burst.stretches) == 10 and burst.start is not None and burst.end is not None
    assert burst.start < win < burst.end  # the line straddles the window's end
    inside = [(a, b) for a, b in burst.stretches if a < win]
    assert len(inside) == 5, burst.stretches
    assert [g.what for g in rec.gaps if g.what == "device_lost"] == ["device_lost"]
    (line,) = [f for f in form_lines(rec) if f.key == "observation"]
    assert line.value.endswith(
        "; 1 device data gap and 5 stretches without valid SpO2 (no alarm) inside the "
        "minimum window (see gaps)"
    ), line
    o = rec.observation
    assert (o.verdict, o.device_gaps, o.spo2_gaps) == ("met", 1, 5), o
    assert any("in 10 stretches" in x for x in gap_lines(rec)), gap_lines(rec)


def test_no_spo2_stretches_apart_by_a_device_loss_are_not_one_line(tmp_path: Path) -> None:
    # Regression: two silences of an oximeter (link up, no SpO2) 2 min apart were merged
    # into "no valid SpO2 between A and B in 2 stretches ...: no device-lost or
    # sensor-off alarm", though between them no SpO2 came either: its link was down
    # (the device-lost line said so). A known hole between stretches keeps them apart.
    quiet = [range(DOSE + 1800, DOSE + 2400)]
    lines = [json.loads(x) for x in _quiet_spo2(DOSE + 130 * 60, quiet).splitlines()]
    lines += [
        {"t": DOSE + 2000, "event": "device_lost", "device": "spo2"},
        {"t": DOSE + 2120, "event": "device_back", "device": "spo2"},
    ]
    lines.sort(key=lambda x: x["t"])
    rec = play_record(tmp_path, "".join(json.dumps(x) + "\n" for x in lines))
    assert rec.dose_start_t is not None
    ds = rec.dose_start_t
    (lost,) = [g for g in rec.gaps if g.what == "device_lost"]
    assert (lost.start, lost.end) == (ds + 2000, ds + 2120 + 0.0), lost
    quiet_gaps = [g for g in rec.gaps if g.what == "no_spo2"]
    assert [(g.start, g.end) for g in quiet_gaps] == [
        (ds + 1855, ds + 2000),
        (ds + 2120, ds + 2400),
    ], quiet_gaps
    assert not [x for x in gap_lines(rec) if " stretches, " in x], gap_lines(rec)


def test_stored_spo2_records_change_nothing_on_the_spo2_line(tmp_path: Path) -> None:
    # clinical-rules.md: a record a device pushes from its memory is history ("stored,
    # marked `stored`, shown in reports, and fed to no rule"), not this patient's SpO2
    # now. Two of them (an earlier patient's 85 % and 86 %), one among the live samples
    # and one in a 10-min stretch without any: the REMS SpO2 line (minimum, time below
    # 90 %, coverage) is the line without them. Before this test, taking stored records
    # for live samples in the summary (minimum 85 %) or in the coverage went unnoticed.
    base = [
        json.loads(x)
        for x in _scenario(DOSE + 130 * 60, DOSE + 130 * 60).splitlines()
        if not (json.loads(x)["event"] == "spo2" and 25 * 60 <= json.loads(x)["t"] - DOSE < 35 * 60)
    ]
    memory = [
        {"t": DOSE + 5 * 60 + 2, "event": "spo2", "spo2": 85, "stored": True},
        {"t": DOSE + 30 * 60, "event": "spo2", "spo2": 86, "stored": True},
    ]

    def spo2_line(lines: list[dict[str, object]], sub: str) -> str:
        (tmp_path / sub).mkdir()
        text = "".join(
            json.dumps(x) + "\n"
            for x in sorted(lines, key=lambda x: float(x["t"]))  # type: ignore[arg-type]
        )
        rec = play_record(tmp_path / sub, text)
        assert len(rec.stored) == (len(memory) if sub == "with" else 0)
        (line,) = [f.value for f in form_lines(rec) if f.key == "spo2"]
        return line

    plain = spo2_line(base, "without")
    assert plain.startswith("minimum 97 % at "), plain
    assert "valid SpO2 for 120.9 of the 130.0 min" in plain, plain  # 24:55 stands 60 s
    assert spo2_line(base + memory, "with") == plain
