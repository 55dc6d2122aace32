"""Summaries the monitoring form asks for, computed from the record's vitals: the SpO2
summary (minimum, time below 90 %) and the evidence behind the two "vitals acceptable"
items (prior to administration, prior to completion of monitoring).

Whether vitals were acceptable stays the clinician's call (clinical-rules.md: monitord
never decides); these only put the numbers next to the box they tick.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitord.report.audit import Episode
from monitord.report.gaps import SIGNAL_HOLD_S, Gap, next_after

SPO2_LOW_PCT = 90.0
# A sample stands for the time until the next one, but never for more than this: a longer
# silence is a hole in the data (probe off, link down), not time spent below 90 %.
SPO2_HOLD_MAX_S = SIGNAL_HOLD_S


@dataclass(frozen=True, slots=True)
class Spo2Summary:
    samples: int  # valid live samples between dose start (or session start) and the end
    min_pct: float | None
    min_t: float | None
    below_s: float  # time below SPO2_LOW_PCT
    # The time the summary covers (dose start, or session start, to the session end or the
    # last data) and how much of it valid samples stand for: the minimum and the time below
    # 90 % say nothing of the rest (an oximeter lost for most of a session read "0.0 min
    # below 90 %" as if SpO2 had been fine throughout).
    span_s: float = 0.0
    covered_s: float = 0.0

    @property
    def not_continuous(self) -> bool:
        """Valid SpO2 stood for less of the span than all of it but a minute (the hold of
        one sample): the minimum and the time below 90 % do not cover the session."""
        return self.span_s - self.covered_s > SPO2_HOLD_MAX_S


@dataclass(frozen=True, slots=True)
class Evidence:
    """The last valid values at or before `at`, and the alarms active then."""

    at: float | None
    hr_bpm: float | None
    spo2_pct: float | None
    active: tuple[str, ...]  # rules of alarms active at `at`
    # When those values were taken: shown when older than SPO2_HOLD_MAX_S, so a value
    # from long before (a sensor silent since) does not read as the value at `at`.
    hr_t: float | None = None
    spo2_t: float | None = None


NO_SPO2 = Spo2Summary(0, None, None, 0.0)  # no summary built (the record's default)
NO_EVIDENCE = Evidence(None, None, None, ())


# The times of every live SpO2 sample, valid or not: of each device (`device_samples`),
# or all as one device.
Samples = Sequence[float] | Mapping[str, Sequence[float]]


def spo2_summary(
    points: Sequence[tuple[float, float]],
    span: tuple[float, float] | None = None,
    sample_ts: Samples = (),
    holes: Sequence[tuple[float, float]] = (),
) -> Spo2Summary:
    """`points`: (t, spo2) of valid live samples in time order; `span`: the time the
    summary covers (from, to); `sample_ts`: the times of every live SpO2 sample, valid
    or not, by device (an invalid one, probe off, ends the time a valid one of its device
    stands for); `holes`: (from, to) known to have no SpO2 (the oximeter's link down, its
    probe off, monitord not running): the last sample before one does not stand into it."""
    lo, hi = span if span is not None else (0.0, 0.0)
    span_s = max(0.0, hi - lo)
    if not points:
        return Spo2Summary(0, None, None, 0.0, span_s, 0.0)
    t_min, v_min = min(points, key=lambda p: (p[1], p[0]))
    stands = _stand_spans(points, lo, hi, sample_ts)
    holes_ = _merge(holes)
    # The time below 90 % is the time the low samples stand for, as the coverage counts
    # it: until the next valid sample, it ran on through probe-off samples and holes
    # (0.8 min below 90 % for a low sample 5 s before a 40-s probe off), more than the
    # covered minutes the line says the figures speak for.
    low = _lowest(points)
    below = _measure([s for t, s in stands.items() if low[t] < SPO2_LOW_PCT], holes_)
    covered = _measure(list(stands.values()), holes_)
    return Spo2Summary(len(points), v_min, t_min, below, span_s, covered)


def _lowest(points: Sequence[tuple[float, float]]) -> dict[float, float]:
    """The lowest valid value at each sample time (two at one instant stand for it once:
    it is below 90 % when either is)."""
    out: dict[float, float] = {}
    for t, v in points:
        out[t] = min(v, out.get(t, v))
    return out


def _measure(spans: Sequence[tuple[float, float]], holes: Sequence[Sequence[float]]) -> float:
    """The time `spans` cover together, less what the merged `holes` cover: two
    oximeters' samples stand for overlapping stretches, counted once (summed, the
    coverage ran past the span: 200 %)."""
    return sum(
        (b - a - sum(max(0.0, min(b, h1) - max(a, h0)) for h0, h1 in holes))
        for a, b in _merge(spans)
    )


def _stand_spans(
    points: Sequence[tuple[float, float]], lo: float, hi: float, sample_ts: Samples
) -> dict[float, tuple[float, float]]:
    """For each valid sample time, the stretch (from, to) of [lo, hi] it stands for: until
    its device's next sample of any verdict, at most SPO2_HOLD_MAX_S (a longer silence is
    a hole), the last until `hi` within that limit; holes not taken out (spo2_summary).
    Another device's samples say nothing of it: an oximeter whose probe is empty, beside
    the one on the patient, cut each of its samples short (its coverage read 50 %)."""
    every = sorted({*_all(sample_ts), *(t for t, _ in points)})
    devices = [sorted(ts) for ts in sample_ts.values()] if isinstance(sample_ts, Mapping) else []
    out: dict[float, tuple[float, float]] = {}
    for t in sorted({t for t, _ in points}):
        # Its device's next sample (of each device that sent one at t; none known: the
        # next of any).
        own = [ts for ts in devices if _has(ts, t)] or [every]
        a, b = max(t, lo), min(*(next_after(ts, t) for ts in own), t + SPO2_HOLD_MAX_S, hi)
        if b > a:
            out[t] = (a, b)
    return out


def _all(sample_ts: Samples) -> list[float]:
    if isinstance(sample_ts, Mapping):
        return [t for ts in sample_ts.values() for t in ts]
    return list(sample_ts)


def _has(ts: Sequence[float], t: float) -> bool:
    i = bisect.bisect_left(ts, t)
    return i < len(ts) and ts[i] == t


def _merge(spans: Sequence[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for h0, h1 in sorted(spans):
        if merged and h0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], h1)
        else:
            merged.append([h0, h1])
    return merged


def spo2_unexplained(
    points: Sequence[tuple[float, float]],
    span: tuple[float, float],
    sample_ts: Samples = (),
    holes: Sequence[tuple[float, float]] = (),
) -> list[tuple[float, float]]:
    """The stretches of `span` no valid SpO2 stands for (as spo2_summary counts it) that
    no known hole covers either: no sample or only invalid ones, and no alarm said so
    (before the oximeter's first sample; a device whose link stays up but sends no
    SpO2). With the holes, they are all the time the coverage leaves out."""
    lo, hi = span
    known = _merge([*_stand_spans(points, lo, hi, sample_ts).values(), *holes])
    out, at = [], lo
    for a, b in known:
        if a > at and at < hi:
            out.append((at, min(a, hi)))
        at = max(at, b)
    if at < hi:
        out.append((at, hi))
    return out


def device_samples(
    vitals: Sequence[Any], signal: str, valid: bool = False, gaps: Sequence[Gap] = ()
) -> dict[str, list[float]]:
    """The devices that sent `signal` ("spo2", "hr") in the record's `vitals`, each with
    the times of its live samples (none for a device of stored records only); `valid`:
    of its valid samples with a value only (those the summary and the chart use). `gaps`:
    each of these devices' losses in them ends its samples as a sample would: its last
    one stands no further than its link (a lost oximeter's 85 % stood a minute into its
    loss beside the other one's 97 %, read as time below 90 %), nor than monitord ran."""
    key = VALUE_KEYS[signal]
    out: dict[str, list[float]] = {}
    for v in vitals:
        if v.kind == signal:
            ok = not v.stored and (not valid or (v.valid and v.values.get(key) is not None))
            out.setdefault(v.device, []).extend((v.t,) if ok else ())
    for g in gaps:
        # monitord stopping ends every device's: a sample from before a restart stood
        # on after it, up to a minute no sample came in.
        down = (
            list(out) if g.what == "daemon_down" else [g.device] if g.what == "device_lost" else []
        )
        for d in (d for d in down if d in out):
            out[d] = sorted([*out[d], g.start]) if g.start is not None else out[d]
    return out


VALUE_KEYS = {"spo2": "spo2_pct", "hr": "hr_bpm"}


def last_point(points: Sequence[tuple[float, float]], at: float) -> tuple[float, float] | None:
    """The last (t, value) at or before `at`."""
    p = None
    for t, x in points:
        if t > at:
            break
        p = (t, x)
    return p


def active_at(eps: Sequence[Episode], at: float, until_then: bool = False) -> tuple[str, ...]:
    """The rules of the alarms active at `at`; `until_then`: also those that cleared at
    that very instant (prior to administration: `dose_start` closes bp.baseline_high,
    the advisory for the decision to dose, which stood until then)."""

    def on(e: Episode) -> bool:
        return e.cleared_t is None or e.cleared_t > at or (until_then and e.cleared_t == at)

    return tuple(sorted({e.rule for e in eps if e.raised_t <= at and on(e)}))
