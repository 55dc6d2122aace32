"""The gaps of a session record: holes in the data (monitord itself not running, a device
lost, a sensor off, BP overdue, the 40-minute check missed, rejected BP readings) and what
the session lacks (no dose, no end). Pure: the record's alarms, verdicts and the daemon's
outages in, `Gap` tuples out."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitord.models import AlertEvent
from monitord.store.outages import Outage

# Alert rules whose raise..clear interval is a hole in the data (the gap list).
GAP_RULES = ("tech.device_lost", "tech.sensor_off", "tech.bp_overdue", "session.check_missed")


@dataclass(frozen=True, slots=True)
class Gap:
    """A hole in the record. `end` None = not closed before the session ended."""

    what: str  # "daemon_down" | "device_lost" | "sensor_off" | "bp_overdue" | ...
    start: float | None
    end: float | None
    detail: str
    signal: str | None = None  # sensor_off: the signal whose sensor was off ("hr", "spo2")
    device: str | None = None  # device_lost: the device whose link went down
    # no_spo2: the stretches without valid SpO2 this line stands for (several when they
    # came close together, NO_SPO2_MERGE_S); their sum is the time missing, exactly.
    stretches: tuple[tuple[float, float], ...] = ()


def alert_gaps(
    raised: Mapping[str, AlertEvent],
    closed: Mapping[str, float],
    invalid_bp: Sequence[tuple[float, str | None]],
    rems: bool,
    ds: float | None,
    post_missing: bool,
    window: tuple[float, float],
    end: float | None,
    t0: float,
    outages: Sequence[Outage] = (),
    valid_bp: Sequence[float] = (),
) -> tuple[Gap, ...]:
    """`raised`/`closed`: the session's alarm episodes (raise event, clear time; one
    raised before the session start `t0` included); `invalid_bp`: (t, reason) of the
    rejected live BP readings; `rems`: the protocol needs the 40-minute BP, missing
    (`post_missing`) from `window` (s after the dose `ds`); `outages`: when monitord was
    not running (monitord/store/outages.py), any of the chair's; `valid_bp`: the times of
    the valid live BP readings (where a BP-overdue hole starts)."""
    out: list[Gap] = list(outage_gaps(outages, t0, end))
    check_alert = False
    for aid, a in raised.items():
        if a.rule not in GAP_RULES:
            continue
        c = closed.get(aid)
        if a.rule in ("tech.device_lost", "tech.sensor_off"):
            # The alarm fires `after_s` after the link went down (the first probe-off or
            # contact-lost sample): the hole starts there, not at the alarm.
            after = a.value.get("after_s")
            since = a.t - float(after) if isinstance(after, int | float) else a.t
            # Since before the session: the session's hole starts with the session.
            before = " (since before the session start)" if since < t0 else ""
            if a.rule == "tech.device_lost":
                dev = _value_str(a.value, "device") or "?"
                out.append(
                    Gap(
                        "device_lost",
                        max(since, t0),
                        c,
                        f"device {dev} link down{before}: {a.message}",
                        device=_value_str(a.value, "device"),
                    )
                )
            else:
                sig = _value_str(a.value, "signal")
                out.append(Gap("sensor_off", max(since, t0), c, f"{a.message}{before}", sig))
        elif a.rule == "tech.bp_overdue":
            out.append(_overdue_gap(a, c, ds, t0, valid_bp))
        else:
            check_alert = True
            # The window the alarm judged, as it says (`window_start_t`, `window_end_t`;
            # an event without them: the record's): a fixed 35-50 min dated the gap in a
            # window a clinic's override had moved.
            lo, hi = a.value.get("window_start_t"), a.value.get("window_end_t")
            if not (isinstance(lo, int | float) and isinstance(hi, int | float)):
                lo, hi = (ds + window[0], ds + window[1]) if ds is not None else (a.t, a.t)
            out.append(
                Gap(
                    "check_missed",
                    lo,
                    hi,
                    "40-minute BP check missed (session.check_missed raised)",
                )
            )
    # The form needs the 40-minute reading whatever the alarms said (e.g. alerts lost,
    # rule overridden): a missing one is a gap in its own right, for the protocols the
    # REMS form covers, and only when the session lasted into the window.
    if (
        post_missing
        and ds is not None
        and not check_alert
        and rems
        and (end is None or end >= ds + window[1])
    ):
        out.append(
            Gap(
                "check_missed",
                ds + window[0],
                ds + window[1],
                f"no valid BP {window_words(window)} after the dose (40-minute check; required)",
            )
        )
    for t, reason in invalid_bp:
        out.append(Gap("invalid_bp", t, t, f"BP reading rejected: {reason}"))
    if ds is None:
        out.append(Gap("no_dose", None, None, "no dose_start recorded"))
    if end is None:
        out.append(Gap("not_ended", None, None, "session not ended: no session_end recorded"))
    out.sort(key=lambda g: (g.start is None, g.start or 0.0))
    return tuple(out)


def _overdue_gap(
    a: AlertEvent, c: float | None, ds: float | None, t0: float, valid_bp: Sequence[float]
) -> Gap:
    """The alarm is raised a NIBP cycle + grace after the last valid BP (clinical-rules.md
    `tech.bp_overdue`: "the clock starts at dose_start and restarts at every valid BP"):
    the hole in the BP record starts at that BP, or at the dose when none came since."""
    since = [t for t in valid_bp if ds is not None and ds <= t < a.t]
    if since:
        start, what = max(since), "the last valid BP"
    elif ds is not None and ds <= a.t:
        start, what = ds, "dose start"
    else:
        # No dose in the record (the engine's clock is not seen): the alarm's own delay.
        after = a.value.get("overdue_s")
        start = a.t - float(after) if isinstance(after, int | float) else a.t
        what = "the BP clock's start"
    start = max(start, t0)
    late = span_text(a.t - start)
    detail = f"no valid BP since {what}; alarm {a.rule} raised {late} after it: {a.message}"
    return Gap("bp_overdue", start, c, detail)


def outage_gaps(outages: Sequence[Outage], t0: float, end: float | None) -> list[Gap]:
    """The outages that overlap the session [t0, end] (end None: not ended), clipped to
    it: no monitoring and no alarms then, whatever the rest of the record says."""
    out = []
    for o in outages:
        lo, hi = max(o.start, t0), o.end if end is None else min(o.end, end)
        if not o.known:
            # No length to clip: kept when it falls in the session, shown at that instant.
            if o.start < t0 or (end is not None and o.start > end):
                continue
            lo = hi = o.start
        elif hi <= lo:
            continue
        how = (
            "stopped (clean stop)"
            if o.clean
            else "not running (no clean stop recorded; a crash, kill or power loss)"
        )
        span = UNKNOWN if not o.known else f"for {span_text(hi - lo)}"
        out.append(
            Gap("daemon_down", lo, hi, f"monitord {how}: no monitoring and no alarms {span}")
        )
    return out


# An outage whose length the record cannot give: the wall clock at the restart was behind
# the last sign of life (a Pi without RTC after a power cut), so the chair clock went on
# from where it was and the time down is not in the timestamps (monitord/clock.py).
UNKNOWN = (
    "for an unknown time (at the restart the system clock was behind the last record, as "
    "on a Pi without a real-time clock after a power cut: the times after it are shifted "
    "earlier by the time down)"
)


def unknown_outages(gaps: Sequence[Gap]) -> int:
    """How many of the daemon outages have no known length (`UNKNOWN`)."""
    return sum(1 for g in gaps if g.what == "daemon_down" and UNKNOWN in g.detail)


def outage_count(gaps: Sequence[Gap]) -> tuple[int, float]:
    """How many times, and for how long in all (whole s), monitord was not running."""
    spans = [
        g.end - g.start
        for g in gaps
        if g.what == "daemon_down" and g.start is not None and g.end is not None
    ]
    # Summed as each is shown (to the second, rounded up), so the total adds up on the page.
    return len(spans), float(sum(whole_s_up(x) for x in spans))


def span_text(s: float) -> str:
    """A duration in words, to the second under an hour (a restart's gap is seconds).
    From an hour on, in minutes rounded up: a hole (monitord down, a value's age) is never
    shown shorter than it was (1 h 00 min 59 s read "1 h 00 min")."""
    whole = whole_s_up(s)
    if whole >= 3600:
        m = -(-whole // 60)
        return f"{m // 60} h {m % 60:02d} min"
    return m_s_text(whole)


def whole_s_up(s: float) -> int:
    """Whole seconds rounded up (the 1e-6 absorbs the float error of a difference of epoch
    times: 40 s stays 40 s). To the nearest, a 40.4-s hole read "40 s" and a 4.5-s clean
    stop "4 s" (halves round to even): up to half a second shorter than it was."""
    return max(0, math.ceil(s - 1e-6))


def m_s_text(whole: int) -> str:
    """Whole seconds in minutes and seconds, as given."""
    m, sec = divmod(whole, 60)
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def window_words(window: tuple[float, float]) -> str:
    """The 40-minute BP's window (s after the dose) in minutes, as the form says it: 35-50 min."""
    return f"{window[0] / 60:g}-{window[1] / 60:g} min"


def _value_str(value: Mapping[str, Any], key: str) -> str | None:
    x = value.get(key)
    return None if x is None else str(x)


def signal_holes(
    gaps: Sequence[Gap],
    signal: str,
    devices: Mapping[str, Sequence[float]],
    valid: Mapping[str, Sequence[float]],
    until: float,
    sample_ts: Sequence[float] = (),
) -> list[tuple[float, float]]:
    """The gaps no value of `signal` ("spo2", "hr") can have come in: monitord not
    running, the link down of one of `devices` (those that sent it in the session, with
    their live sample times: summary.device_samples; `valid`: their valid ones) where no
    other one's valid samples stand (`lost_spans`), or of a device not named that may have
    been its device (no live sample of `signal`, times `sample_ts`, came inside it), its
    sensor off (probe off, contact lost); one still open runs to `until`. The SpO2
    coverage stops at them, and the chart's lines break at them."""
    out = []
    for g in gaps:
        if g.start is None:
            continue
        end = g.end if g.end is not None else until
        if g.what == "device_lost" and g.device in devices:
            out += lost_spans(g, devices, valid, end)
        elif (
            g.what == "daemon_down"
            or (
                g.what == "device_lost"
                and g.device is None
                and not _any_in(sample_ts, g.start, end)
            )
            or (g.what == "sensor_off" and g.signal in (None, signal))
        ):
            out.append((g.start, end))
    return out


def lost_spans(
    g: Gap,
    devices: Mapping[str, Sequence[float]],
    valid: Mapping[str, Sequence[float]],
    end: float,
) -> list[tuple[float, float]]:
    """The parts of a device's loss `g` (to `end`) where no valid sample of another of
    `devices` stands (until that device's next sample, valid or not, at most SIGNAL_HOLD_S,
    as the SpO2 coverage counts one): a spare oximeter clipped on after the first was lost
    sent the signal from then on, and the whole loss taken off the coverage read "0.0 min
    below 90 %" beside its dip. Only valid ones: a second oximeter reading 0 % beside an
    empty probe (no probe-off flag, so no sensor-off alarm) made the loss no hole, and the
    lost one's last sample stood a minute into it, covered time no SpO2 came in."""
    assert g.start is not None
    stands = []
    for d, ts in devices.items():
        if d == g.device:
            continue
        every = sorted(ts)
        for t in valid.get(d, ()):
            if g.start - SIGNAL_HOLD_S < t < end:
                stands.append((t, min(next_after(every, t), t + SIGNAL_HOLD_S)))
    out, at = [], g.start
    for a, b in sorted(stands):
        if a > at:
            out.append((at, min(a, end)))
        at = max(at, b)
    if at < end:
        out.append((at, end))
    return out


# How long a sample stands for at most, when no other came sooner (summary.py's hold).
SIGNAL_HOLD_S = 60.0


def next_after(ts: Sequence[float], t: float) -> float:
    """The first time of sorted `ts` after `t` (inf when none): where a sample at `t`
    stops standing (lost_spans, and summary.py's stand of each sample)."""
    i = bisect.bisect_right(ts, t)
    return ts[i] if i < len(ts) else math.inf


def _any_in(ts: Sequence[float], lo: float, hi: float) -> bool:
    """Whether a time of `ts` falls strictly inside (lo, hi). An alarm naming no
    device (e.g. from another version) may be this signal's device: counted as its hole,
    its stretch also read "no device-lost ... alarm" under its own line. But samples of the
    signal inside it show it was another device's (a BP cuff's loss under an oximeter
    sending throughout took 20 min off the SpO2 coverage, and hid an unexplained silence
    of the oximeter inside it)."""
    return any(lo < t < hi for t in ts)


def no_spo2_gaps(
    stretches: Sequence[tuple[float, float]], holes: Sequence[tuple[float, float]] = ()
) -> list[Gap]:
    """A `no_spo2` gap per stretch (from, to), or per run of stretches each less than
    NO_SPO2_MERGE_S from the next with only SpO2 between (bursts); float dust (a hole's
    start a hair after a sample's hold ends) left out. `holes`: the known ones (device
    lost, sensor off, monitord not running; signal_holes): one between two stretches
    keeps them apart, as a line "between" them says SpO2 came there and "no device-lost
    or sensor-off alarm, no outage recorded" over its whole span."""
    runs: list[list[tuple[float, float]]] = []
    for a, b in stretches:
        if b - a <= 1e-3:
            continue
        prev = runs[-1][-1][1] if runs else None
        if (
            prev is not None
            and a - prev < NO_SPO2_MERGE_S
            and not any(h0 < a and h1 > prev for h0, h1 in holes)
        ):
            runs[-1].append((a, b))
        else:
            runs.append([(a, b)])
    out = []
    for run in runs:
        detail = NO_SPO2_DETAIL
        if len(run) > 1:
            # The count and the total open the printed line (lists.gap_lines).
            longest = max(b - a for a, b in run)
            detail = (
                f"each less than {NO_SPO2_MERGE_S / 60:g} min from the next (the longest "
                f"{span_text(longest)}): {detail}"
            )
        out.append(
            Gap("no_spo2", run[0][0], run[-1][1], detail, signal="spo2", stretches=tuple(run))
        )
    return out


# "recorded": a report --from influx cannot see monitord's outages (docs/report.md).
NO_SPO2_DETAIL = "no device-lost or sensor-off alarm, no outage recorded"
# SpO2 in bursts (a minute or two of samples every few minutes) left a line per silence,
# 41 on one form: silences this close together are one line, with their count, total
# and longest (docs/report.md "Gaps and missing data"). A presentation choice: what is
# missing and when stays exact (the total, and every sample in the vitals CSV).
NO_SPO2_MERGE_S = 300.0
