"""The SpO2 coverage and time below 90 % of two oximeters, in random streams, against an
independent per-instant computation of docs/report.md's rule: an instant is covered when
some oximeter's last sample before it is valid, came less than 60 s before, and neither
monitord nor that oximeter's link was down since (nor is then); below 90 % when the
lowest of those is. Composed as record.py composes it (device_samples, signal_holes,
spo2_summary). The random check of one oximeter (test_spo2_coverage.py) never had a
second one: a lost oximeter's last sample then stood a minute into its loss beside the
other's samples, and the other's invalid samples made the loss no hole at all.

Samples of the two are half a second apart, never at one instant: two samples at one
instant stand for one stretch, until the sooner of their devices' next samples (shorter
than the rule, never longer), checked apart: never more than the rule."""

from __future__ import annotations

import bisect
import random

from monitord.report.gaps import Gap, signal_holes
from monitord.report.record import Vital
from monitord.report.summary import Spo2Summary, device_samples, spo2_summary

SPAN = 900
HOLD = 60.0
Stream = tuple[
    dict[str, list[tuple[float, bool, float]]], list[tuple[str, int, int]], list[tuple[int, int]]
]


def _stream(rng: random.Random, offset: float) -> Stream:
    """Two oximeters, each at its own pace (1 s to 90 s), valid, invalid or mixed, each
    lost 0-2 times; monitord down 0-2 times (no sample of either then)."""
    outs = []
    for _ in range(rng.choice([0, 0, 1, 2])):
        a = rng.randrange(0, SPAN)
        outs.append((a, a + rng.randrange(1, 120)))
    devs: dict[str, list[tuple[float, bool, float]]] = {}
    losses: list[tuple[str, int, int]] = []
    for i, d in enumerate(("ox-a", "ox-b")):
        step, start = rng.choice([1, 2, 3, 5, 15, 30, 60, 61, 90]), rng.randrange(0, 200)
        p_valid = rng.choice([0.95, 0.95, 0.0, 0.6])
        lost: list[tuple[int, int]] = []
        for _ in range(rng.choice([0, 1, 1, 2])):
            a = rng.randrange(0, SPAN)
            # One loss at a time per device, as the engine raises them.
            if all(b0 > a + 400 or b1 < a for b0, b1 in lost):
                lost.append((a, a + rng.randrange(5, 400)))
        down = [*lost, *outs]
        devs[d] = [
            (t + i * offset, rng.random() < p_valid, rng.choice([85.0, 88.0, 95.0, 97.0]))
            for t in range(start, SPAN + 1, step)
            if not any(a <= t + i * offset < b for a, b in down)
        ]
        losses += [(d, a, b) for a, b in lost]
    return devs, losses, outs


def _rule(stream: Stream) -> tuple[float, float]:
    """Covered and below-90 seconds by the rule, per quarter second (every edge of these
    streams falls on a half second)."""
    devs, losses, outs = stream
    times = {d: [t for t, _, _ in ss] for d, ss in devs.items()}
    covered = below = 0.0
    for q in range(SPAN * 4):
        x = q / 4 + 0.125
        if any(a <= x < b for a, b in outs):
            continue
        lowest = None
        for d, ss in devs.items():
            i = bisect.bisect_right(times[d], x) - 1
            if i < 0:
                continue
            t, ok, v = ss[i]
            # Its link down since the sample (or now): it stands no further.
            cut = any(dd == d and a <= x and b > t for dd, a, b in losses)
            if ok and x < t + HOLD and not cut and not any(t < a <= x for a, _ in outs):
                lowest = v if lowest is None else min(lowest, v)
        if lowest is not None:
            covered += 0.25
            below += 0.25 if lowest < 90 else 0.0
    return covered, below


def _report(stream: Stream) -> Spo2Summary:
    """As record.py builds the SpO2 summary from the record's vitals and gaps."""
    devs, losses, outs = stream
    gaps = [Gap("device_lost", a, b, "", device=d) for d, a, b in losses]
    gaps += [Gap("daemon_down", a, b, "") for a, b in outs]
    vitals = sorted(
        (
            Vital(t, "spo2", d, {"spo2_pct": v}, ok, None if ok else "probe off")
            for d, ss in devs.items()
            for t, ok, v in ss
        ),
        key=lambda v: v.t,
    )
    sp_ts = [v.t for v in vitals]
    devices = device_samples(vitals, "spo2", gaps=gaps)
    holes = signal_holes(gaps, "spo2", devices, device_samples(vitals, "spo2", True), SPAN, sp_ts)
    points = [(v.t, v.values["spo2_pct"] or 0.0) for v in vitals if v.valid]
    return spo2_summary(points, (0.0, float(SPAN)), devices, holes)


def test_two_oximeters_cover_what_the_rule_says() -> None:
    rng = random.Random(45)
    off = []
    for _ in range(1500):
        stream = _stream(rng, 0.5)
        s, (covered, below) = _report(stream), _rule(stream)
        if abs(s.covered_s - covered) > 1e-6 or abs(s.below_s - below) > 1e-6:
            off.append((s.covered_s, covered, s.below_s, below, stream[1], stream[2]))
    assert not off, (len(off), off[:2])


def test_two_oximeters_at_one_instant_claim_no_more_than_the_rule() -> None:
    rng = random.Random(46)
    more = []
    for _ in range(1500):
        stream = _stream(rng, 0.0)
        s, (covered, below) = _report(stream), _rule(stream)
        if s.covered_s > covered + 1e-6 or s.below_s > below + 1e-6:
            more.append((s.covered_s, covered, s.below_s, below, stream[1], stream[2]))
    assert not more, (len(more), more[:2])


def test_a_sample_from_before_a_restart_covers_nothing_after_it() -> None:
    # One oximeter every 2 s to 500 s; monitord down 501-511 s; its first sample after
    # the restart at 550 s. The 500-s sample stood on to 550 s, less the outage: 39 s of
    # SpO2 read after the restart, when none came in.
    samples = [(float(t), True, 97.0) for t in (*range(0, 501, 2), *range(550, SPAN + 1, 2))]
    stream: Stream = ({"ox-a": samples}, [], [(501, 511)])
    # Covered: 0-501 s and 550-900 s (the 10-s outage and the 39 s after it are not).
    assert _report(stream).covered_s == _rule(stream)[0] == 501 + 350
