"""Whether the session's observation after the dose reached the protocol's minimum
(clinical-rules.md: esketamine "observation at least 120 min after `dose_start`",
iv-ketamine "observation at least 60 min after `dose_end`"; "Observation time is met at
dose_start + 120 min (`esketamine`) or dose_end + 60 min (`iv-ketamine`)").

The minimum and the event it counts from are the engine's own (session.discharge_ready's
parameters, with the clinic's `[alerts]` overrides: monitord/engine/discharge.py), so the
report and the advisory cannot disagree on it. The observation is the clock time from
that event to `session_end` (the completion of monitoring on the form).

Three verdicts, and "cannot be judged" whenever the record does not show which holds:
- `met`: the session ended at or after the minimum, and monitord was running for the
  whole minimum window. A device lost, a sensor off or a stretch without valid SpO2
  inside the window does not count against it: monitord kept the session's clock (the
  observation time is a time on the clock, as the engine's). The met line counts them
  apart: the first two were alarmed, a stretch without valid SpO2 (`no_spo2`) was not.
- `short`: the session ended before the minimum. Session events are dated when monitord
  receives them, never earlier, so an outage after the event counted from cannot make a
  short session long; one before it can (a command sent while monitord was not running
  is taken when it restarts: the event may be dated late), and then it cannot be judged;
  nor after an outage of unknown length (its time down is missing from the timestamps).
- `not_judged`: no such event, no session end, or monitord not running inside the
  minimum window (nothing was monitored and no alarm could sound then; the session end
  itself may be dated late when it was sent meanwhile).

Pure: plain values in, an `Observation` out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitord.engine.discharge import DISCHARGE, observation_minimum
from monitord.engine.rules import RuleSet
from monitord.report.gaps import UNKNOWN, Gap

# Holes in the data during which monitord ran and alarmed: noted, never a break.
DEVICE_GAPS = ("device_lost", "sensor_off")


@dataclass(frozen=True, slots=True)
class Observation:
    verdict: str  # "met" | "short" | "not_judged"
    origin: str  # the session event it counts from: "dose_start" | "dose_end"
    minimum_s: float  # the protocol's minimum (the engine's parameter)
    observed_s: float | None  # origin to session end; None when either is missing
    reason: str | None  # why not judged, in words for the form
    device_gaps: int = 0  # device-lost / sensor-off gaps inside the minimum window
    # Stretches without valid SpO2 and no alarm (`no_spo2`) inside the minimum window,
    # each counted, not each gap line: a line merges stretches close together (SpO2 in
    # bursts) and may run past the window's edge (docs/report.md "Which gaps count").
    spo2_gaps: int = 0


NO_OBSERVATION = Observation("not_judged", "dose_start", 0.0, None, "not judged")


def judge_observation(
    rules: RuleSet,
    protocol: str,
    dose_start_t: float | None,
    dose_end_t: float | None,
    end_t: float | None,
    gaps: Sequence[Gap],
) -> Observation:
    """`gaps`: the record's gaps (monitord's outages among them, clipped to the session)."""
    origin, minimum = observation_minimum(rules[DISCHARGE].params, protocol)
    t = dose_start_t if origin == "dose_start" else dose_end_t
    if t is None:
        return Observation("not_judged", origin, minimum, None, f"no {origin} recorded")
    if end_t is None:
        return Observation("not_judged", origin, minimum, None, "session not ended")
    observed = end_t - t
    # Met as the engine's timer is: at dose event + minimum, on the same clock.
    met_t = t + minimum
    down = [
        (g.start, g.end)
        for g in gaps
        if g.what == "daemon_down" and g.start is not None and g.end is not None
    ]
    if end_t < met_t:
        if any(lo < t for lo, _ in down):
            return Observation(
                "not_judged",
                origin,
                minimum,
                observed,
                f"monitord was not running before the {origin} (see gaps): a {origin} "
                "sent meanwhile is recorded when it restarted, so it may be dated late",
            )
        if any(g.what == "daemon_down" and UNKNOWN in g.detail for g in gaps):
            # Its time down is missing from the timestamps: the real observation was
            # longer than `observed` by that much.
            return Observation(
                "not_judged",
                origin,
                minimum,
                observed,
                "monitord was not running for an unknown time (see gaps): the observation "
                "was longer than the record shows by that time",
            )
        return Observation("short", origin, minimum, observed, None)
    inside = [(lo, hi) for lo, hi in down if lo < met_t and hi > t]
    if inside:
        return Observation(
            "not_judged",
            origin,
            minimum,
            observed,
            f"monitord was not running {len(inside)} time{'s' if len(inside) > 1 else ''} "
            f"inside the minimum window (see gaps): no monitoring and no alarms then",
        )
    holes = sum(
        1
        for g in gaps
        if g.what in DEVICE_GAPS
        and g.start is not None
        and g.start < met_t
        and (g.end is None or g.end > t)
    )
    # Per stretch: the gap's start and end are its line's (first stretch to last, the
    # bursts of SpO2 between them included), so 41 silences read as one gap.
    spo2 = sum(
        1
        for g in gaps
        if g.what == "no_spo2"
        for a, b in (g.stretches or ((g.start, g.end),))
        if a is not None and a < met_t and (b is None or b > t)
    )
    return Observation("met", origin, minimum, observed, None, holes, spo2)


def list_flag(o: Observation, ended: bool) -> str:
    """The session in a word or two for `monitord report --list`: never ended, else what
    the report's observation line says (red unless met), so the lead sees which sessions
    need a look before opening them."""
    if not ended:
        return "NOT ENDED"
    return {"met": "met", "short": "SHORT"}.get(o.verdict, "CANNOT BE JUDGED")


def clock_text(s: float) -> str:
    """A duration, never rounded up to a minimum it did not reach: whole seconds down."""
    whole = math.floor(s + 1e-6)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    if not h and not m:
        return f"{sec} s"
    out = f"{h} h {m:02d} min" if h else f"{m} min"
    return out + (f" {sec:02d} s" if sec else "")
