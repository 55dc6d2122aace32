"""Fractional event times and acks by alert_id, case by case (clinical-rules.md
"Confirmation, clearing, latching" and "Precise semantics"); the random versions are in
test_restart_props.py and test_ack_by_id_props.py.

Live, event times are receive times in whole microseconds of the epoch, so the cases run
at small times and at an epoch time, where binary floats have fewer bits to spare."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from monitord.engine import Ack, AlertEngine, EngineInput, RuleSet, Sample
from monitord.models import AlertEvent, Kind
from monitord.store.codec import dumps

C = "c1"
BASES = (0.0, 0.3, 1_764_800_000.123456)


def spo2(t: float, v: float) -> Sample:
    return Sample(t, C, "ox", Kind.SPO2, {"spo2_pct": v})


def bp(t: float, s: float, d: float) -> Sample:
    return Sample(t, C, "cuff", Kind.BP, {"sys_mmHg": s, "dia_mmHg": d})


BAD = (80, 90)  # systolic not above diastolic: invalid, tech.bp_invalid
GOOD = (120, 80)


def play(eng: AlertEngine, inputs: Sequence[EngineInput]) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for ev in inputs:
        out += eng.advance(ev.t, strict=True)
        out += eng.feed(ev)
    return out


def restarted(eng: AlertEngine, t: float) -> AlertEngine:
    """As the daemon restarts: the snapshot through the store's encoder, then resume."""
    new = AlertEngine.restore(json.loads(dumps(eng.snapshot())), RuleSet.default())
    new.resume(t)
    return new


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize(
    ("gap", "raised"),
    [(10.0, True), (10.0000004, True), (10.000001, False), (10.0001, False)],
)
def test_ten_second_gap_at_its_boundary(base: float, gap: float, raised: bool) -> None:
    """ "samples more than 10 s apart restart the run": 10.0 s apart is not more (the run
    of spo2.very_low, for 10 s, is met at the second sample); 1 us more is. Under the
    engine's 1-us resolution (docs/alerts.md) a gap is the 10 s it was written as."""
    out = play(AlertEngine(), [spo2(base, 80), spo2(base + gap, 80), spo2(base + gap + 5, 80)])
    want = [("spo2.very_low", "raised", round(base + gap, 6))] if raised else []
    assert [(e.rule, e.event, round(e.t, 6)) for e in out] == want


@pytest.mark.parametrize("base", BASES)
def test_for_s_met_at_exactly_for_s_not_a_fraction_before(base: float) -> None:
    """spo2.low raises "at the first valid sample with t - run_start >= for" (15 s)."""
    early = [spo2(round(base + x, 6), 88) for x in (1.4, 6.4, 11.4, 16.3999)]
    assert play(AlertEngine(), early) == []
    exact = [spo2(round(base + x, 6), 88) for x in (1.4, 6.4, 11.4, 16.4)]
    (ev,) = play(AlertEngine(), exact)
    assert (ev.rule, ev.event, ev.t) == ("spo2.low", "raised", round(base + 16.4, 6))


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("restart_after", [None, 1, 2, 3, 4, 5])
def test_alert_id_unique_within_one_millisecond(base: float, restart_after: int | None) -> None:
    """tech.bp_invalid raised, cleared and raised again four times within about a
    millisecond: four ids, also with a daemon restart between any two inputs."""
    steps = [BAD, GOOD, BAD, GOOD, BAD, GOOD, BAD]
    inputs: list[EngineInput] = [bp(round(base + i * 0.0002, 6), *sd) for i, sd in enumerate(steps)]
    eng = AlertEngine()
    if restart_after is None:
        out = play(eng, inputs)
    else:
        out = play(eng, inputs[:restart_after])
        eng = restarted(eng, inputs[restart_after - 1].t)
        out += play(eng, inputs[restart_after:])
    ids = [e.alert_id for e in out if e.event == "raised"]
    assert len(ids) == 4 and len(set(ids)) == 4, ids


@pytest.mark.parametrize("base", BASES)
def test_ack_naming_an_earlier_episode_in_the_same_ms_acks_nothing(base: float) -> None:
    """A page acks the episode it shows; the rule cleared and raised again within the same
    millisecond: the new episode stays unacknowledged (and keeps escalating)."""
    eng = AlertEngine()
    t = [round(base + x, 6) for x in (0.0, 0.0001, 0.0002, 0.0003)]
    out = play(eng, [spo2(t[0], 99), bp(t[0], *BAD), bp(t[1], *GOOD), bp(t[2], *BAD)])
    old, new = [e.alert_id for e in out if e.event == "raised"]
    assert old is not None and new is not None and old != new
    got, why = eng.feed_ack(Ack(t[3], C, alert_id=old, by="nurse"))
    assert got == []
    assert why is not None and "has cleared" in str(why)
    (act,) = eng.active(C)
    assert act["alert_id"] == new and not act["ack"]


@pytest.mark.parametrize("restart", [False, True])
def test_ack_by_alert_id_of_a_held_latched_alert_clears_it(restart: bool) -> None:
    """bp.crisis whose clear condition holds (2 readings < 180/110) stays active until
    acknowledged; an ack by its alert_id then emits `acknowledged` and `cleared` at the
    same t, also after a restart in between (the held clear survives it)."""
    eng = AlertEngine()
    out = play(eng, [bp(0.0004, 210, 100), bp(600.0004, 150, 90), bp(1200.0004, 150, 90)])
    (aid,) = {e.alert_id for e in out if e.event == "raised"}
    assert aid is not None and [a["state"] for a in eng.active(C)] == ["clear_pending"]
    if restart:
        eng = restarted(eng, 1200.0004)
    eng.advance(1300.5, strict=True)
    got = eng.feed(Ack(1300.5, C, alert_id=aid, by="nurse"))
    assert [(e.event, e.t, e.alert_id) for e in got] == [
        ("acknowledged", 1300.5, aid),
        ("cleared", 1300.5, aid),
    ]
    assert eng.active(C) == []
